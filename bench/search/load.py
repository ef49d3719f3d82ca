"""Load client for the search benchmark, run as its own process: N concurrent connections send
search requests for D seconds and print one JSON line (requests/s, latency percentiles, errors)."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import httpx


async def worker(client: httpx.AsyncClient, urls: list[str], start: int, stop_at: float, out: list, errors: dict):
    i = start
    while time.perf_counter() < stop_at:
        url = urls[i % len(urls)]
        i += 1
        t0 = time.perf_counter()
        try:
            r = await client.get(url)
            key = str(r.status_code)
        except httpx.HTTPError as exc:
            key = type(exc).__name__
        out.append(time.perf_counter() - t0)
        if key != "200":
            errors[key] = errors.get(key, 0) + 1


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--base", required=True)
    p.add_argument("--cookie", required=True)
    p.add_argument("--urls", required=True, help="a file with one path per line")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--seconds", type=float, default=15)
    args = p.parse_args()
    urls = [u.strip() for u in open(args.urls) if u.strip()]
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=args.base, cookies={"djp_session": args.cookie}, timeout=10,
                                 limits=limits) as client:
        for url in urls[:20]:  # warm-up
            await client.get(url)
        out: list[float] = []
        errors: dict[str, int] = {}
        t0 = time.perf_counter()
        stop_at = t0 + args.seconds
        await asyncio.gather(*(worker(client, urls, k * 97, stop_at, out, errors) for k in range(args.concurrency)))
        wall = time.perf_counter() - t0
    ms = sorted(x * 1000 for x in out)
    print(json.dumps({"requests": len(ms), "rps": len(ms) / wall, "p50_ms": statistics.median(ms),
                      "p95_ms": ms[int(0.95 * (len(ms) - 1))], "max_ms": ms[-1], "errors": errors}))


if __name__ == "__main__":
    asyncio.run(main())
