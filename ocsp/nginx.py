"""The nginx configuration that serves pre-signed responses as static files.

``psre ocsp nginx-conf`` renders it for an installation; ``deploy/nginx/psre-ocsp.conf`` is the
rendering for the defaults (a test keeps the two identical).

* GETs of a canonical URL are a file under ``root``: nginx answers them without Python. Its
  decoded ``$uri`` maps base64's "/" to directories and "%2F"/"%2B"/"%3D" to the characters, so
  encoded and unencoded URLs both hit; ``merge_slashes off`` because base64 may contain "//".
* ``expires modified +<validity>``: the file's mtime is the response's thisUpdate, so Expires is
  its nextUpdate and max-age is bounded by it (RFC 5019 §6.2); Last-Modified is thisUpdate.
* Misses, POSTs and anything else go to the Python responder (``@psre``), which answers from its
  in-memory index, signs live for nonces, and refuses oversized bodies.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path

TEMPLATE = """\
# psre OCSP responder behind nginx: pre-signed responses as static files, Python for the rest.
# Rendered by `psre ocsp nginx-conf` (defaults: deploy/nginx/psre-ocsp.conf). Include it in the
# http {} block, e.g. /etc/nginx/conf.d/psre-ocsp.conf, and run `psre refresher` (or `psre
# serve`, which starts it) so that the files are refreshed and expired ones removed.

upstream psre_app {
    server ${upstream};
    keepalive 32;
}

server {
    listen ${listen};
    server_name _;
    root ${root};
    # RFC 6960 App. A.1 GET URLs carry base64, which may contain "//".
    merge_slashes off;
    access_log ${access_log};

    # POST (application/ocsp-request): the Python responder. RFC 5019 requests are ~100 bytes.
    location = /ocsp {
        client_max_body_size ${max_body};
        proxy_pass http://psre_app;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $$host;
        proxy_set_header X-Forwarded-For $$proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $$scheme;
    }

    location /ocsp/ {
        types { }
        default_type application/ocsp-response;
        # thisUpdate is the file's mtime: Expires = nextUpdate, max-age bounded by it.
        expires modified +${validity_hours}h;
        add_header Cache-Control "public, no-transform, must-revalidate";
        try_files $$uri @psre;
        # A POST to /ocsp/... is not a file request either.
        error_page 405 = @psre;
    }

    location @psre {
        client_max_body_size ${max_body};
        proxy_pass http://psre_app;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $$host;
        proxy_set_header X-Forwarded-For $$proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $$scheme;
    }

    # Everything else of psre (CA certificates, CRLs, pages) from the app. It believes the
    # X-Forwarded-* headers only with server.trusted_proxies = 1 in psre.toml.
    location / {
        proxy_pass http://psre_app;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $$host;
        proxy_set_header X-Forwarded-For $$proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $$scheme;
    }
}
"""


@dataclass(frozen=True)
class NginxSite:
    root: Path
    listen: str = "80"
    upstream: str = "127.0.0.1:8080"
    validity_hours: int = 96
    max_body: int = 4096
    access_log: str = "off"


def render(site: NginxSite) -> str:
    return string.Template(TEMPLATE).substitute(
        root=str(site.root),
        listen=site.listen,
        upstream=site.upstream,
        validity_hours=site.validity_hours,
        max_body=f"{max(1, site.max_body // 1024)}k",
        access_log=site.access_log,
    )


#: The shipped file: a production layout (psre in /srv/psre, data_dir var).
SHIPPED = NginxSite(root=Path("/srv/psre/var/public"))
