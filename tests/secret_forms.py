"""The secret forms every output is checked against (shared by the masking tests).

Each form is ``(name, text, distinctive)``: ``text`` is how the secret appears in the wild and
``distinctive`` the part of it that must appear in no output once masked.
"""

from __future__ import annotations

PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkFkYSJ9"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)

FORMS: list[tuple[str, str, str]] = [
    ("password_pair", "password=hunter2Secret", "hunter2Secret"),
    ("password_json", '{"password": "s3cr3t-json-pw"}', "s3cr3t-json-pw"),
    ("passphrase_equals", "password=correct horse battery staple", "battery staple"),
    ("passphrase_colon", "password: tr0ub4dor and 3 more words", "and 3 more words"),
    ("api_key_pair", "api_key='k-live-998877'", "k-live-998877"),
    ("client_secret_pair", "client_secret=cs_9f8e7d6c5b", "cs_9f8e7d6c5b"),
    ("cookie_pair", "Cookie: session=sessVal0123abc", "sessVal0123abc"),
    ("bearer", "Authorization: Bearer abc.def-ghi1234", "abc.def-ghi1234"),
    ("bearer_free", "retry with Bearer zz9.plural-Z-alpha", "zz9.plural-Z-alpha"),
    ("basic", "Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA"),
    ("jwt", f"jwt {JWT} end", "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV"),
    ("card_spaces", "card 5500 0000 0000 0004 declined", "0000 0000 0004"),
    ("card_dashes", "card 4012-8888-8888-1881 declined", "8888-8888-1881"),
    ("card_plain", "card 4111111111111111 declined", "4111111111111111"),
    ("card_after_hyphen", "order-4242424242424242 failed", "424242424242"),
    ("card_after_letters", "ref4242424242424242", "424242424242"),
    ("aws_key_id", "aws key AKIAIOSFODNN7EXAMPLE in use", "IOSFODNN7EXAMPLE"),
    ("aws_session_key_id", "ASIAY34FZKBOKMUTVV7A", "Y34FZKBOKMUTVV7A"),
    (
        "aws_secret_pair",
        "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "bPxRfiCYEXAMPLEKEY",
    ),
    (
        "aws_secret_next_to_id",
        "AKIAI44QH8DHBEXAMPLE je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
        "h3yCo8nvbEXAMPLEKEY",
    ),
    (
        "github_ghp",
        "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",
        "wWPw5k4aXcaT4fNP0UcnZwJUVFk6LO0pINUx",
    ),
    (
        "github_gho",
        "gho_16C7e42F292c6912E7710c838347Ae178B4a",
        "16C7e42F292c6912E7710c838347Ae178B4a",
    ),
    (
        "github_ghs",
        "ghs_Xb3mH7pQ2zL9vK4nR8tW1yC6dF5gJ0sA2eUu",
        "Xb3mH7pQ2zL9vK4nR8tW1yC6dF5gJ0sA2eUu",
    ),
    (
        "github_pat",
        "github_pat_11ABCDEFG0abcdefghijkl_MNOPQRSTUVWXYZ0123456789abcdefghij",
        "MNOPQRSTUVWXYZ0123456789abcdefghij",
    ),
    (
        "github_in_url",
        "git clone https://ghp_R2d2C3p0BB8k2so4Chewie1Lando2Han3Leia@github.com/o/r.git",
        "R2d2C3p0BB8k2so4Chewie1Lando2Han3Leia",
    ),
    (
        "github_in_url_userinfo",
        "https://x-access-token:ghs_Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8@github.com/o/r",
        "Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8",
    ),
    ("url_userinfo", "db at postgres://app:S3cretPw0rd@db:5432/app", "S3cretPw0rd"),
    ("url_userinfo_empty_user", "redis://:R3disPassw0rd@cache:6379/0", "R3disPassw0rd"),
    (
        "pem",
        f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----",
        PEM_BODY,
    ),
    ("query_key", "GET https://maps.example.com/api?key=Zx9YwVu8TsRq&z=1", "Zx9YwVu8TsRq"),
    (
        "query_sig",
        "https://cdn.example.com/f.png?exp=1&sig=QmFzZTY0U2lnbmF0dXJl",
        "QmFzZTY0U2lnbmF0dXJl",
    ),
    ("query_signature", "/file?signature=5f0c9e2b7d1a44", "5f0c9e2b7d1a44"),
    (
        "amz_signature",
        "s3.amazonaws.com/b/k?X-Amz-Date=20240101T000000Z&X-Amz-Signature=fe5f80f77d5fa3beca038a248ff027d0",
        "fe5f80f77d5fa3beca038a248ff027d0",
    ),
    ("query_token", "wss://push.example.com/ws?token=tok_AbCdEf123456", "tok_AbCdEf123456"),
    ("query_access_token", "/cb#state=1&access_token=ya29.A0ARrdaM-xyz987", "ya29.A0ARrdaM-xyz987"),
    (
        "slack_webhook",
        "https://hooks.slack.com/services/T01ABCDEF/B02GHIJKL/Zq8Xw7Vu6Ts5Rr4Qp3On2Ml1",
        "Zq8Xw7Vu6Ts5Rr4Qp3On2Ml1",
    ),
    ("slack_token", "xoxb-2048-4096-QwErTyUiOpAsDfGhJkLzXcVb", "QwErTyUiOpAsDfGhJkLzXcVb"),
    ("stripe_live", "sk_live_51HxYzAbCdEfGh12345678", "51HxYzAbCdEfGh12345678"),
    ("openai_style", "sk-proj-A1b2C3d4E5f6G7h8I9j0K1l2M3n4", "A1b2C3d4E5f6G7h8I9j0K1l2M3n4"),
    (
        "google_api_key",
        "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
        "9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
    ),
    ("gitlab", "glpat-Ab1Cd2Ef3Gh4Ij5Kl6Mn", "Ab1Cd2Ef3Gh4Ij5Kl6Mn"),
    (
        "opaque_token",
        "upstream said k8Zt2QxP7vLm4NwR9sYb3HcJ6dFg1TeU5aWo0",
        "k8Zt2QxP7vLm4NwR9sYb3HcJ6dFg1TeU5aWo0",
    ),
]
"""Every form, as it appears in the wild, with the part that must never be emitted."""

NAMES = [name for name, _, _ in FORMS]
