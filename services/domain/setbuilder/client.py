"""HTTP client the web app uses to call the set builder: SetBuilderClient(base_url).generate(request)."""

from __future__ import annotations

from typing import Self

import httpx

from services.common.contracts.setbuilder import GenerateRequest, GenerateResponse
from services.common.service_auth import service_auth_headers


class SetBuilderClientError(RuntimeError):
    """The set builder answered 4xx/5xx (or could not be reached); `status` is None for the latter."""

    def __init__(self, message: str, *, status: int | None = None, detail: object = None):
        super().__init__(message)
        self.status = status
        self.detail = detail


class SetBuilderClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 330.0,
        client: httpx.Client | None = None,
        token: str | None = None,
    ):
        # The default timeout sits above the largest time budget (300 s) the service accepts.
        headers = service_auth_headers(token)
        self._client = client or httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, headers=headers)

    def generate(self, request: GenerateRequest | dict) -> GenerateResponse:
        body = request.model_dump(mode="json") if isinstance(request, GenerateRequest) else request
        try:
            resp = self._client.post("/generate", json=body)
        except httpx.HTTPError as exc:
            raise SetBuilderClientError(f"set builder unreachable: {exc}") from exc
        if resp.status_code >= 400:
            try:
                detail = resp.json().get("detail")
            except ValueError:
                detail = resp.text
            raise SetBuilderClientError(
                f"set builder returned {resp.status_code}: {detail}", status=resp.status_code, detail=detail
            )
        return GenerateResponse.model_validate(resp.json())

    def health(self) -> dict:
        resp = self._client.get("/health")
        resp.raise_for_status()
        return resp.json()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
