"""The HTTP transport under ccxt: one urllib3 pool per thread, without requests' per-call work.

ccxt sends every REST call through `session.request(method, url, data=, headers=, timeout=,
proxies=, verify=, files=)` and reads `status_code`, `reason`, `headers`, `text` and
`raise_for_status()` off the answer. A `requests.Session` does the same I/O through urllib3
but first prepares a request object, merges environment settings, runs cookie and hook
machinery and checks for redirects on every call: in the execution task's profile that was
as much CPU as the urllib3 call under it (bench/RESULTS.md, "The bare path"). This session
calls urllib3 directly and raises the same `requests.exceptions` a Session raises for the
same failures (the mapping below is requests' own HTTPAdapter's), so ccxt's error handling
and `ccxt_gateway._nothing_was_sent` see what they saw before. ccxt's signing and parsing
are unchanged.

Certificates are verified against certifi's bundle, as requests does. Environment proxy
and CA settings are not read (the clients were built with `trust_env` off already); a call
that asks for a proxy, a multipart body or no verification goes through a plain
`requests.Session` instead.
"""

import certifi
import requests
import urllib3
from requests.exceptions import ConnectionError, ConnectTimeout, HTTPError, ProxyError, ReadTimeout, RetryError, SSLError
from urllib3.exceptions import (
    ClosedPoolError,
    ConnectTimeoutError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    ResponseError,
)
from urllib3.exceptions import ProxyError as Urllib3ProxyError
from urllib3.exceptions import SSLError as Urllib3SSLError

# requests' own: no retry of anything that may have reached the server, no redirects.
_NO_RETRIES = urllib3.Retry(0, read=False, redirect=False)
# Connections kept per host and thread: a thread sends one request at a time.
POOL_SIZE = 2


class _NoCookies:
    """ccxt clears the session's cookies before each call; exchange APIs set none we keep."""

    def clear(self) -> None:
        pass


class Response:
    """What ccxt reads of an HTTP answer (the subset of `requests.Response` it uses)."""

    __slots__ = ("status_code", "reason", "headers", "content", "encoding")

    def __init__(self, answer: urllib3.BaseHTTPResponse):
        self.status_code = answer.status
        self.reason = answer.reason
        self.headers = answer.headers  # case-insensitive, as requests' are
        self.content = answer.data
        self.encoding = "utf-8"

    @property
    def text(self) -> str:
        return self.content.decode(self.encoding or "utf-8", errors="replace")

    def raise_for_status(self) -> None:
        if 400 <= self.status_code < 600:
            kind = "Client" if self.status_code < 500 else "Server"
            # No URL in the message: a signed GET carries its signature in the query.
            raise HTTPError(f"{self.status_code} {kind} Error: {self.reason}", response=self)


class PooledSession:
    """A stand-in for `requests.Session` as ccxt uses it (one per thread: not thread-safe)."""

    def __init__(self) -> None:
        # What a requests Session adds to every call besides the User-Agent and
        # Accept-Encoding headers ccxt sets itself.
        self.headers = {"Accept": "*/*", "Connection": "keep-alive"}
        self.cookies = _NoCookies()
        self.trust_env = False
        self._pool = urllib3.PoolManager(maxsize=POOL_SIZE, cert_reqs="CERT_REQUIRED", ca_certs=certifi.where())
        self._fallback: requests.Session | None = None

    def request(self, method, url, data=None, headers=None, timeout=None, proxies=None, verify=True, files=None, **kwargs):
        if proxies or files or not verify or kwargs:
            return self._requests_session().request(
                method, url, data=data, headers=headers, timeout=timeout, proxies=proxies, verify=verify, files=files, **kwargs
            )
        try:
            answer = self._pool.urlopen(
                method,
                url,
                body=data,
                headers=headers,
                timeout=urllib3.Timeout(connect=timeout, read=timeout),
                retries=_NO_RETRIES,
                redirect=False,
                assert_same_host=False,
                preload_content=True,
                decode_content=True,
            )
        except (ProtocolError, OSError) as err:
            raise ConnectionError(err) from err
        except MaxRetryError as err:
            reason = err.reason
            if isinstance(reason, ConnectTimeoutError) and not isinstance(reason, NewConnectionError):
                raise ConnectTimeout(err) from err
            if isinstance(reason, ResponseError):
                raise RetryError(err) from err
            if isinstance(reason, Urllib3ProxyError):
                raise ProxyError(err) from err
            if isinstance(reason, Urllib3SSLError):
                raise SSLError(err) from err
            raise ConnectionError(err) from err
        except ClosedPoolError as err:
            raise ConnectionError(err) from err
        except Urllib3SSLError as err:
            raise SSLError(err) from err
        except ReadTimeoutError as err:
            raise ReadTimeout(err) from err
        return Response(answer)

    def _requests_session(self) -> requests.Session:
        if self._fallback is None:
            self._fallback = requests.Session()
            self._fallback.trust_env = self.trust_env
        return self._fallback

    def close(self) -> None:
        self._pool.clear()
        if self._fallback is not None:
            self._fallback.close()
