"""A real S3-compatible server on loopback for the tests: moto's server mode (`ThreadedMotoServer`), on a
free port of 127.0.0.1, spoken to over HTTP by the production S3 client (aiobotocore) — not a mock object."""

from tests.support.smtp import free_port

ACCESS_KEY, SECRET_KEY = "test-access-key", "test-secret-key"


class S3Server:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "S3Server":
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.stop()

    def settings(self, bucket: str = "aftersales-files") -> dict:
        """The Settings fields of the S3 store against this server."""
        return dict(files_store="s3", files_s3_bucket=bucket, files_s3_endpoint_url=self.url,
                    files_s3_access_key_id=ACCESS_KEY, files_s3_secret_access_key=SECRET_KEY)
