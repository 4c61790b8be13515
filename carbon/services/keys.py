"""API keys: issued once in plaintext, kept only as an HMAC-SHA256 under a server secret, found by prefix."""

from __future__ import annotations

import hmac
import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from hashlib import sha256

from carbon.core.access import ApiKey, Role
from carbon.errors import AuthenticationError, NotFoundError, PermissionDeniedError, RequestError
from carbon.services.ports import KeyStore

__all__ = [
    "KEY_PATTERN",
    "ApiKey",
    "Caller",
    "IssuedKey",
    "Role",
    "authenticate",
    "check_tenant",
    "issue_key",
    "key_prefix",
    "list_keys",
    "require_role",
    "revoke_key",
]

KEY_PREFIX = "cbk_"
# cbk_<8 lowercase hex: the visible prefix>_<43 url-safe base64 characters: 256 random bits>
KEY_PATTERN = re.compile(r"^(cbk_[0-9a-f]{8})_[A-Za-z0-9_-]{43}$")
PREFIX_PATTERN = re.compile(r"^cbk_[0-9a-f]{8}$")
TENANT_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MIN_SECRET_BYTES = 32


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new key: the plaintext is shown once and never stored."""

    plaintext: str
    key: ApiKey


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking: the tenant every query is scoped by, and the key's prefix for logs."""

    tenant: str
    key_id: str
    key_prefix: str


def key_hash(secret: bytes, plaintext: str) -> str:
    """The stored form of a key: HMAC-SHA256 under the server secret (a leaked table reveals no key)."""
    return hmac.new(secret, plaintext.encode(), sha256).hexdigest()


def key_prefix(text: str) -> str:
    """The visible prefix of a key, or the prefix itself; refused if it is neither."""
    text = text.strip()
    if PREFIX_PATTERN.match(text):
        return text
    match = KEY_PATTERN.match(text)
    if match is None:
        raise RequestError("not an API key or key prefix (expected cbk_ and 8 hex digits)")
    return match.group(1)


def check_tenant(tenant: str) -> str:
    """The tenant name, refused if keys could not carry it."""
    if not TENANT_PATTERN.match(tenant):
        raise RequestError(f"tenant {tenant!r}: use 1-64 of a-z 0-9 . _ - starting with a letter or digit")
    return tenant


def _check_secret(secret: bytes) -> None:
    if len(secret) < MIN_SECRET_BYTES:
        raise RequestError(f"the key secret must be at least {MIN_SECRET_BYTES} bytes")


def issue_key(
    store: KeyStore, secret: bytes, tenant: str, roles: Iterable[Role], name: str, now: datetime
) -> IssuedKey:
    """Create a key for a tenant; the plaintext is returned once."""
    _check_secret(secret)
    check_tenant(tenant)
    wanted = frozenset(roles)
    if not wanted:
        raise RequestError("a key needs at least one role: read, submit, admin or metrics")
    if len(name) > 128:
        raise RequestError("a key name has at most 128 characters")
    prefix = f"{KEY_PREFIX}{secrets.token_hex(4)}"
    plaintext = f"{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(uuid.uuid4().hex, prefix, tenant, wanted, name, now)
    store.add_key(key, key_hash(secret, plaintext))
    return IssuedKey(plaintext, key)


def authenticate(store: KeyStore, secret: bytes, token: str | None) -> ApiKey:
    """The live key a bearer token names; one message for every failure, so probing learns nothing."""
    if not token:
        raise AuthenticationError("an API key is required: send it as 'Authorization: Bearer <key>'")
    match = KEY_PATTERN.match(token)
    found = store.find_key(match.group(1)) if match else None
    if found is not None:
        key, stored_hash = found
        if hmac.compare_digest(stored_hash, key_hash(secret, token)) and key.revoked_at is None:
            return key
    raise AuthenticationError("the API key is not valid (unknown, revoked or malformed)", token_sent=True)


def require_role(key: ApiKey, role: Role) -> Caller:
    """The caller, if the key holds the role the operation needs."""
    if not key.allows(role):
        held = ", ".join(sorted(r.value for r in key.roles))
        raise PermissionDeniedError(f"this operation needs the {role.value} role; the key has {held}",
                                    role=role.value)  # fmt: skip
    return Caller(key.tenant, key.key_id, key.prefix)


def list_keys(store: KeyStore, tenant: str | None = None) -> list[ApiKey]:
    """Keys in the order they were created, revoked ones included."""
    return store.list_keys(tenant)


def revoke_key(store: KeyStore, prefix_or_key: str, now: datetime) -> ApiKey:
    """Revoke at once (the next request with the key is refused); revoking twice keeps the first time."""
    prefix = key_prefix(prefix_or_key)
    revoked = store.revoke_key(prefix, now)
    if revoked is None:
        raise NotFoundError(f"no API key with prefix {prefix}")
    return revoked
