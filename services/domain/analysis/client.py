"""httpx client for the analysis service; lives with its callers (the web app and its worker jobs)."""

from __future__ import annotations

from pathlib import Path
from typing import Self

import httpx

from services.common.contracts.analysis import AnalysisResult
from services.common.service_auth import service_auth_headers


class AnalysisServiceError(Exception):
    """The service answered 4xx/5xx (or could not be reached: status_code 0)."""

    def __init__(self, status_code: int, code: str, detail: str) -> None:
        super().__init__(f"analysis service error {status_code} ({code}): {detail}")
        self.status_code = status_code
        self.code = code
        self.detail = detail

    @property
    def is_client_error(self) -> bool:
        """True when retrying the same file will not help (bad/corrupt/unsupported input)."""
        return 400 <= self.status_code < 500 and self.status_code not in (408, 429)


class AnalysisClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 300.0,
        transport: httpx.BaseTransport | None = None,
        token: str | None = None,
    ) -> None:
        headers = service_auth_headers(token)
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"), timeout=timeout, transport=transport, headers=headers
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _result(self, response: httpx.Response) -> AnalysisResult:
        if response.status_code >= 400:
            try:
                body = response.json()
                code, detail = str(body.get("code", "error")), str(body.get("detail", response.text))
            except ValueError:
                code, detail = "error", response.text[:500]
            raise AnalysisServiceError(response.status_code, code, detail)
        return AnalysisResult.model_validate(response.json())

    def _send(self, **kwargs) -> AnalysisResult:
        try:
            return self._result(self._client.post("/analyze", **kwargs))
        except httpx.TransportError as exc:
            raise AnalysisServiceError(0, "unreachable", str(exc)) from exc

    def analyze_path(self, rel_path: str) -> AnalysisResult:
        """Analyse a file already under AUDIO_DIR (path relative to it)."""
        return self._send(json={"path": rel_path})

    def analyze_bytes(self, filename: str, data: bytes) -> AnalysisResult:
        return self._send(files={"file": (Path(filename).name, data, "application/octet-stream")})

    def health(self) -> dict:
        response = self._client.get("/health")
        response.raise_for_status()
        return response.json()
