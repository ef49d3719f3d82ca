"""Generated DJ libraries and query sets for the search benchmark.

Two generators, so the split we tune on and the frozen split we report do not share their choices:
* "syllables" (tuning): artists and titles built from invented syllables, accents on 8% of names;
* "wordlist" (test): English words and first/last-name lists, "DJ"/"&"/"feat." artists.
Both: a tenth of the artists get a neighbour one letter away (so a typo can land on another
artist), 3% non-Latin names, 40 genres / 300 styles, analysed fields on 80% of tracks.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

SYLLABLES_A = ["ka", "lo", "vi", "den", "mar", "tu", "ro", "sel", "qui", "na", "bo", "zen", "fa", "ri", "mo",
               "tan", "el", "shu", "va", "gor", "pi", "len", "dra", "ox", "ul", "ne", "so", "bri", "kel", "yu"]
ACCENTED = {"a": "á", "e": "é", "o": "ø", "u": "ü", "i": "í", "n": "ñ", "c": "ç"}
WORDS_B = """night shift deep motion strings life around world window licker warm leatherette silver black
blue red gold velvet echo dub drive forever tonight dream city lights river ocean fire rain summer winter
spring autumn love lost found heart soul machine rhythm groove dance floor sunrise sunset moon star
electric acid jack house garden paradise midnight morning evening shadow mirror glass stone iron steel
voice body mind spirit freedom music sound system signal frequency pulse wave circuit memory future past
tomorrow yesterday heaven space orbit planet galaxy cosmic dust storm thunder lightning breeze desert
island jungle forest mountain valley bridge tunnel station train highway motor engine rocket flight
angel devil saint sinner king queen prince empire kingdom temple church chapel choir organ piano guitar
bass drum kick snare clap chord melody harmony tone vinyl record tape radio disco funk soul jazz blues
gospel reggae samba tango rumba mambo salsa bossa nova boogie rock roll street avenue boulevard corner
block district downtown uptown underground overground satellite transmission reception connection
direction reflection emotion devotion motion ocean potion notion station nation creation vibration""".split()
FIRST_B = ["Laurent", "Kerri", "Theo", "Moodymann", "Carl", "Jeff", "Derrick", "Kevin", "Juan", "Robert",
           "Maya", "Nina", "Aurora", "Felix", "Jamie", "Peggy", "Honey", "Floating", "Ricardo", "Ben", "Nicolas",
           "Marcel", "Helena", "Ivan", "Oskar", "Frankie", "Larry", "Ron", "Tony", "Marshall", "Sven", "Dixon"]
LAST_B = ["Garnier", "Chandler", "Parrish", "Craig", "Mills", "May", "Saunderson", "Atkins", "Hood", "Klock",
          "Dettmann", "Villalobos", "Jaar", "Knuckles", "Heard", "Humphries", "Gou", "Dijon", "Points", "Lenz",
          "Smith", "Jones", "Brown", "Williams", "Johnson", "Miller", "Davis", "Wilson", "Moore", "Taylor"]
NON_LATIN = ["Кино", "Аквариум", "Мумий Тролль", "坂本龍一", "細野晴臣", "竹内まりや", "山下達郎", "Ελένη", "Σωκράτης",
             "אביב", "مرسيل", "Сплин", "大貫妙子"]
GENRES = [f"Genre {i}" for i in range(40)]
STYLES = [f"Style {i}" for i in range(300)]


@dataclass
class GenTrack:
    title: str
    artist: str
    album: str
    year: int
    genres: list[str]
    styles: list[str]
    bpm: float | None
    camelot: str | None
    energy: float | None


def _edit(word: str, rng: random.Random) -> str:
    """One typo: substitution, deletion, insertion or transposition (not at the first letter)."""
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(("sub", "del", "ins", "swap"))
    letters = "abcdefghijklmnopqrstuvwxyz"
    if kind == "sub":
        return word[:i] + rng.choice([c for c in letters if c != word[i].lower()]) + word[i + 1:]
    if kind == "del":
        return word[:i] + word[i + 1:]
    if kind == "ins":
        return word[:i] + rng.choice(letters) + word[i:]
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]


class Generator:
    def __init__(self, kind: str, seed: int) -> None:
        self.kind, self.rng = kind, random.Random(seed)
        r = self.rng
        if kind == "syllables":
            # dict, not set: a set's order follows string hashing, which differs from process to process
            self.words = list(dict.fromkeys(self._invented(r.randint(2, 4)) for _ in range(6000)))
        else:
            self.words = WORDS_B
        self.artists = self._artists(9000)

    def _invented(self, syllables: int) -> str:
        word = "".join(self.rng.choice(SYLLABLES_A) for _ in range(syllables))
        if self.rng.random() < 0.08:
            i = self.rng.randrange(len(word))
            word = word[:i] + ACCENTED.get(word[i], word[i]) + word[i + 1:]
        return word.capitalize()

    def _artist(self) -> str:
        r = self.rng
        if r.random() < 0.03:
            return r.choice(NON_LATIN)
        if self.kind == "syllables":
            name = " ".join(self._invented(r.randint(1, 3)) for _ in range(r.choice((1, 2, 2, 3))))
            return f"The {name}" if r.random() < 0.1 else name
        name = f"{r.choice(FIRST_B)} {r.choice(LAST_B)}"
        roll = r.random()
        if roll < 0.1:
            return f"DJ {r.choice(LAST_B)}"
        if roll < 0.2:
            return f"{name} & {r.choice(FIRST_B)} {r.choice(LAST_B)}"
        if roll < 0.25:
            return f"{name} feat. {r.choice(FIRST_B)}"
        return name

    def _artists(self, n: int) -> list[str]:
        names = list(dict.fromkeys(self._artist() for _ in range(n)))
        neighbours = []
        for name in self.rng.sample(names, len(names) // 10):
            words = name.split()
            j = self.rng.randrange(len(words))
            words[j] = _edit(words[j], self.rng)
            neighbours.append(" ".join(words))
        return names + neighbours

    def _title(self) -> str:
        r = self.rng
        if r.random() < 0.02:
            return r.choice(NON_LATIN) + " " + r.choice(self.words)
        title = " ".join(r.choice(self.words) for _ in range(r.choice((1, 2, 2, 3, 3, 4))))
        return title.title() if self.kind == "wordlist" else title

    def tracks(self, n: int) -> list[GenTrack]:
        r = self.rng
        out = []
        while len(out) < n:
            artist = r.choice(self.artists)
            album = self._title()
            year = r.randint(1965, 2025)
            genres = r.sample(GENRES, r.choice((1, 1, 2)))
            styles = r.sample(STYLES, r.choice((1, 2, 3)))
            for _ in range(r.randint(2, 10)):
                analysed = r.random() < 0.8
                out.append(GenTrack(
                    title=self._title(), artist=artist, album=album, year=year, genres=genres, styles=styles,
                    bpm=round(r.uniform(70, 180), 2) if analysed else None,
                    camelot=f"{r.randint(1, 12)}{r.choice('AB')}" if analysed else None,
                    energy=round(r.uniform(1, 10), 1) if analysed else None,
                ))
        return out[:n]


@dataclass
class Query:
    kind: str  # exact, typo, prefix
    text: str
    wanted: int  # index of the track in the generated list


def queries(tracks: list[GenTrack], seed: int, per_kind: int = 200) -> list[Query]:
    """Exact ("artist title" or a unique title), one-typo and prefix queries for random tracks whose
    "artist title" is unique (so the wanted answer is well defined)."""
    rng = random.Random(seed)
    pairs: dict[tuple[str, str], int] = {}
    titles: dict[str, int] = {}
    for i, t in enumerate(tracks):
        pairs[(t.artist.lower(), t.title.lower())] = pairs.get((t.artist.lower(), t.title.lower()), 0) + 1
        titles[t.title.lower()] = titles.get(t.title.lower(), 0) + 1
    candidates = [i for i, t in enumerate(tracks) if pairs[(t.artist.lower(), t.title.lower())] == 1]
    out = []
    for kind in ("exact", "typo", "prefix"):
        for i in rng.sample(candidates, per_kind):
            t = tracks[i]
            if kind == "exact":
                text = t.title if titles[t.title.lower()] == 1 and rng.random() < 0.5 else f"{t.artist} {t.title}"
            elif kind == "typo":
                words = f"{t.artist} {t.title}".split()
                long = [j for j, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
                if long:
                    j = rng.choice(long)
                    words[j] = _edit(words[j], rng)
                text = " ".join(words)
            else:
                first = t.title.split()[0]
                text = f"{t.artist} {first[:max(3, len(first) // 2)]}"
            out.append(Query(kind=kind, text=text, wanted=i))
    return out
