"""Schemathesis hooks for imgd's contract test (SCHEMATHESIS_HOOKS=hooks)."""
import schemathesis


@schemathesis.serializer("application/offset+octet-stream")
def offset_octet_stream(ctx, value):
    """tus PATCH bodies: raw bytes, as application/octet-stream would be sent."""
    if isinstance(value, str):
        value = value.encode()
    return {"data": value if isinstance(value, bytes) else bytes(str(value), "utf-8")}
