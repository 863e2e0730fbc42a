"""Seam 8: large objects stream through the local S3 instead of being held whole in memory.

moto 5.2.5 keeps an object in a spooled temporary file (on disk past 5 MB), but
- answers every GetObject by reading the whole object into memory, and a ranged GET slices that copy:
  boto3's `download_file` fetches a large object as 8 MB ranges, ten at a time, so a 1.5 GB training
  file was read whole ~190 times, with up to ten copies in memory at once;
- completes a multipart upload by joining every part into one bytearray, then a bytes copy of it;
- answers ListObjectVersions from a deep copy of every version in the bucket, whatever the prefix, and
  a deep copy of an object copies its bytes: each page of a staging listing copied gigabytes.
While installed:
- the body `S3Response.get_object` takes from `FakeKey.value` is an `ObjectBody` for objects above
  `STREAM_ABOVE_BYTES`: it has the object's length, a slice reads just that range (moto's range handling
  slices the body), and iterating it (what the server does with a whole-object answer) yields 1 MB
  chunks. Everything else that reads `.value` still gets bytes;
- `FakeMultipart.complete` checks the parts as moto does (ETags, minimum part size, checksums) and
  joins them chunk by chunk into a spooled file, a `JoinedParts`, which the `FakeKey.value` setter
  takes as the new object's buffer;
- `S3Backend.list_object_versions` copies each version as a `listed_view`: its fields (the ETag
  computed first), an empty buffer of its own, no bytes copied.

API: `StreamedObjects().install()`, `.uninstall()`; `ObjectBody(key)`, `JoinedParts(parts)`, `listed_view`.
"""

from __future__ import annotations

import codecs
import copy
import tempfile
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from moto.s3 import models as s3_models
from moto.s3.exceptions import EntityTooSmall, InvalidPart, MalformedXML
from moto.s3.models import FakeKey, FakeMultipart, MultipartChecksumBuilder, S3Backend
from moto.s3.responses import S3Response
from moto.settings import get_s3_default_key_buffer_size
from moto.utilities.utils import md5_hash

STREAM_ABOVE_BYTES = 8 * 2**20
CHUNK_BYTES = 2**20
_serving = threading.local()  # set while this thread runs S3Response.get_object
_listing = threading.local()  # set while this thread runs S3Backend.list_object_versions


class ObjectBody:
    """A stored object's bytes, read from its buffer on demand (under the key's own lock)."""

    def __init__(self, key: FakeKey) -> None:
        self._key = key  # holds the key, and so its buffer, open while the body is being sent
        self._length = key.contentsize

    def __len__(self) -> int:
        return self._length

    def __bool__(self) -> bool:
        return self._length > 0

    def _read(self, start: int, size: int) -> bytes:
        with self._key.lock:
            buffer = self._key._value_buffer
            buffer.seek(start)
            return bytes(buffer.read(size))

    def __getitem__(self, item: slice) -> bytes:
        if not isinstance(item, slice) or item.step not in (None, 1):
            raise TypeError("an object body is read by contiguous slices only")
        start, stop, _ = item.indices(self._length)
        return self._read(start, max(0, stop - start))

    def __iter__(self) -> Iterator[bytes]:
        for start in range(0, self._length, CHUNK_BYTES):
            yield self._read(start, CHUNK_BYTES)


class JoinedParts:
    """A completed multipart upload's bytes, joined in a spooled file (on disk when large) that becomes
    the new object's buffer. moto disposes of the parts before it creates the object."""

    def __init__(self, parts: list[FakeKey]) -> None:
        # Not closed here: it becomes the new object's buffer.
        self.buffer = tempfile.SpooledTemporaryFile(max_size=get_s3_default_key_buffer_size())  # noqa: SIM115
        for part in parts:
            for chunk in ObjectBody(part):
                self.buffer.write(chunk)
        self.length = sum(part.contentsize for part in parts)


def complete_by_parts(multipart: FakeMultipart, body: Iterable[tuple[int, str]]) -> tuple[Any, str, Any]:
    """`FakeMultipart.complete` of moto 5.2.5, the parts referenced instead of joined in memory."""
    checksums = MultipartChecksumBuilder(
        multipart.metadata.get("x-amz-checksum-algorithm"), multipart.metadata.get("x-amz-checksum-type")
    )
    decode_hex = codecs.getdecoder("hex_codec")
    md5s = bytearray()
    parts: list[FakeKey] = []
    for number, etag in body:
        part = multipart.parts.get(number)
        if part is None or part.etag.replace('"', "") != etag.replace('"', ""):
            raise InvalidPart()
        if parts and parts[-1].contentsize < s3_models.S3_UPLOAD_PART_MIN_SIZE:
            raise EntityTooSmall()
        md5s.extend(decode_hex(part.etag.replace('"', ""))[0])  # type: ignore[arg-type]
        checksums.addPart(part.value)  # one part in memory at a time
        parts.append(part)
    if not parts:
        raise MalformedXML
    full_etag = md5_hash()
    full_etag.update(bytes(md5s))
    return JoinedParts(parts), f"{full_etag.hexdigest()}-{len(parts)}", checksums.build()


def listed_view(key: FakeKey) -> FakeKey:
    """A version as ListObjectVersions reports it: the key's fields over an empty buffer of its own
    (the view is garbage collected, and a FakeKey closes its buffer then)."""
    key.etag  # noqa: B018 - computed from the bytes once, before the view loses them
    view: FakeKey = object.__new__(type(key))
    view.__dict__.update(key.__dict__)
    view._value_buffer = tempfile.SpooledTemporaryFile()  # noqa: SIM115 - closed when the view is
    view.lock = threading.Lock()
    view.multipart = None
    return view


class StreamedObjects:
    """Installs the streamed GetObject body, multipart completion and version listing against the pinned
    moto."""

    def __init__(self) -> None:
        self._originals: dict[tuple[type, str], Any] = {}

    def install(self) -> None:
        if self._originals:
            return
        get_object = S3Response.get_object
        value = FakeKey.value
        list_versions = S3Backend.list_object_versions

        def listed_versions(backend: S3Backend, *args: Any, **kwargs: Any) -> Any:
            _listing.active = True
            try:
                return list_versions(backend, *args, **kwargs)
            finally:
                _listing.active = False

        def deepcopy_key(key: FakeKey, memo: dict[int, Any]) -> FakeKey:
            if getattr(_listing, "active", False):
                return listed_view(key)
            state = copy.deepcopy(key.__getstate__(), memo)  # what deepcopy does without this hook
            twin: FakeKey = object.__new__(type(key))
            twin.__setstate__(state)
            return twin

        def streamed_get_object(response: S3Response) -> Any:
            _serving.active = True
            try:
                return get_object(response)
            finally:
                _serving.active = False

        def body_or_bytes(key: FakeKey) -> Any:
            if getattr(_serving, "active", False) and key.contentsize > STREAM_ABOVE_BYTES:
                return ObjectBody(key)
            return value.fget(key)  # type: ignore[attr-defined]

        def store(key: FakeKey, new_value: Any) -> None:
            if not isinstance(new_value, JoinedParts):
                value.fset(key, new_value)  # type: ignore[attr-defined]
                return
            key._value_buffer.close()  # moto's own setter takes no lock either
            key._value_buffer = new_value.buffer
            key.contentsize = new_value.length

        self._originals = {
            (S3Response, "get_object"): get_object,
            (FakeKey, "value"): value,
            (FakeMultipart, "complete"): FakeMultipart.complete,
            (S3Backend, "list_object_versions"): list_versions,
        }
        S3Response.get_object = streamed_get_object  # type: ignore[method-assign,assignment]
        FakeKey.value = property(body_or_bytes, store)  # type: ignore[method-assign,assignment]
        FakeMultipart.complete = complete_by_parts  # type: ignore[method-assign,assignment]
        S3Backend.list_object_versions = listed_versions  # type: ignore[method-assign,assignment]
        FakeKey.__deepcopy__ = deepcopy_key  # type: ignore[attr-defined]

    def uninstall(self) -> None:
        for (owner, name), original in self._originals.items():
            setattr(owner, name, original)
        if self._originals:
            del FakeKey.__deepcopy__  # type: ignore[attr-defined]
        self._originals = {}
