"""Where table data lives: local folders or any URI delta-rs accepts (s3://, gs://, az://)."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlparse

import pyarrow.fs as pafs

from raylake.names import TableName


def is_local(uri: str) -> bool:
    return urlparse(uri).scheme in ("", "file")


def local_path(uri: str) -> Path:
    """The filesystem path of a local URI (``file:///x`` or ``/x``)."""
    parsed = urlparse(uri)
    return Path(parsed.path if parsed.scheme == "file" else uri)


def table_location(storage_root: str, name: TableName) -> str:
    """Default location of a managed table: ``<root>/<catalog>/<schema>/<table>``."""
    if is_local(storage_root):
        return str(local_path(storage_root) / name.catalog / name.schema / name.table)
    return f"{storage_root.rstrip('/')}/{name.catalog}/{name.schema}/{name.table}"


def join(uri: str, *parts: str) -> str:
    if is_local(uri):
        return str(local_path(uri).joinpath(*parts))
    return "/".join([uri.rstrip("/"), *parts])


def filesystem(
    uri: str, storage_options: dict[str, str] | None = None
) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem and the path inside it, for reading footers and cleaning up."""
    if is_local(uri):
        return pafs.LocalFileSystem(), str(local_path(uri))
    parsed = urlparse(uri)
    if parsed.scheme in ("s3", "s3a") and storage_options:
        # Built from the same options delta-rs gets; FileSystem.from_uri would ask AWS for the
        # bucket's region first, which fails for S3-compatible stores (MinIO, moto, ...).
        endpoint = storage_options.get("AWS_ENDPOINT_URL") or storage_options.get("AWS_ENDPOINT")
        scheme = "https"
        if endpoint and "://" in endpoint:
            scheme, endpoint = endpoint.split("://", 1)
        fs = pafs.S3FileSystem(
            access_key=storage_options.get("AWS_ACCESS_KEY_ID"),
            secret_key=storage_options.get("AWS_SECRET_ACCESS_KEY"),
            session_token=storage_options.get("AWS_SESSION_TOKEN"),
            endpoint_override=endpoint,
            scheme=scheme,
            region=storage_options.get("AWS_REGION") or storage_options.get("AWS_DEFAULT_REGION"),
        )
        return fs, f"{parsed.netloc}{parsed.path}".rstrip("/")
    fs, path = pafs.FileSystem.from_uri(uri)
    return fs, path


def delete_tree(uri: str, storage_options: dict[str, str] | None = None) -> None:
    """Remove a folder and everything under it; a missing folder is not an error."""
    if is_local(uri):
        shutil.rmtree(local_path(uri), ignore_errors=True)
        return
    fs, path = filesystem(uri, storage_options)
    try:
        fs.delete_dir(path)
    except FileNotFoundError:
        pass
