"""Where stored files go when a deployment names an object store (README: Running on several
hosts): the Django storage of an S3 bucket, or of an S3-compatible store, that every host
reaches."""


def object_storage(
    *,
    bucket: str,
    endpoint_url: str = "",
    region: str = "",
    addressing_style: str = "",
    location: str = "",
) -> dict:
    """STORAGES["default"] for `bucket`. Its objects are private (no public ACL); the portal
    and the admin stream them to whoever may see them, so no object's address is handed out.
    The credentials come from the environment as boto3 reads them (AWS_ACCESS_KEY_ID and
    AWS_SECRET_ACCESS_KEY, or the host's role), never from the settings."""
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint_url or None,
            "region_name": region or None,
            # "path" for stores without a host name per bucket (most S3-compatible ones).
            "addressing_style": addressing_style or None,
            # A folder in the bucket, when the bucket holds other things too.
            "location": location,
            "default_acl": "private",
            # Should anything ask for an object's address, it is signed and short-lived.
            "querystring_auth": True,
            "querystring_expire": 60,
            # A certificate's name is its SSRN and version: what a worker killed after storing
            # left is replaced by the next render, whose bytes are the same.
            "file_overwrite": True,
            "object_parameters": {"CacheControl": "private, no-store"},
        },
    }
