"""The HTTP session a provider keeps: the environment's proxies and CA bundle read once, when
the provider is built; ~/.netrc never consulted (its credentials would replace the provider's
own Authorization header); enough pooled connections for a worker's threads."""

from __future__ import annotations

import threading

import responses

from phone_verify.providers.base import ProviderRequest
from phone_verify.providers.fortytwo import FortytwoProvider

from .fake_server import FakeRequest, serve

URL = "https://rest.fortytwo.example"


def fortytwo() -> FortytwoProvider:
    return FortytwoProvider({"URL": URL, "TOKEN": "secret-token"})


def test_the_environment_proxies_and_ca_bundle_are_taken_when_the_provider_is_built(
    monkeypatch, tmp_path
):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "ca.pem"))
    session = fortytwo().session
    assert session.proxies == {"https": "http://proxy.internal:3128"}
    assert session.verify == str(tmp_path / "ca.pem")

    monkeypatch.setenv("NO_PROXY", "rest.fortytwo.example")
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    session = fortytwo().session
    assert session.proxies == {} and session.verify is True


def test_a_netrc_entry_never_replaces_the_providers_own_credentials(monkeypatch, tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine rest.fortytwo.example login someone password elses\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    provider = fortytwo()
    with responses.RequestsMock() as mock:
        mock.post(f"{URL}/1/2fa", json={"result_info": {"status_code": 0}})
        provider.call(ProviderRequest("POST", f"{URL}/1/2fa", json={}, headers=provider.headers))
        assert mock.calls[0].request.headers["Authorization"] == "Token secret-token"


def test_the_pool_keeps_a_connection_per_worker_thread():
    """16 threads calling a provider at once, three times over (docs/celery.md's pool): the
    provider's server sees 16 connections, not one per call past requests' default pool of
    10."""

    class Answers:
        def handle(self, request: FakeRequest) -> tuple[int, dict]:
            return 200, {"result_info": {"status_code": 0}}

        def delay(self) -> float:
            return 0.05  # calls overlap

    server = serve(Answers(), keep_alive=True)
    connections: list[object] = []
    accept = server.process_request

    def counted(request, client_address):  # noqa: ANN001
        connections.append(client_address)
        return accept(request, client_address)

    server.process_request = counted
    url = f"http://127.0.0.1:{server.server_address[1]}"
    provider = FortytwoProvider({"URL": url, "TOKEN": "t"})
    barrier = threading.Barrier(16, timeout=30)
    errors: list[Exception] = []

    def calls() -> None:
        try:
            for _ in range(3):
                barrier.wait()
                provider.call(ProviderRequest("POST", f"{url}/1/2fa", json={}))
        except Exception as error:  # shown by the assertion below, not lost in the thread
            errors.append(error)
            barrier.abort()

    threads = [threading.Thread(target=calls) for _ in range(16)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        server.shutdown()
        server.server_close()
    assert not errors, errors
    assert len(connections) == 16
