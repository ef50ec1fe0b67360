from __future__ import annotations

from collections.abc import Iterator

import pytest

from xledger_assets.sandbox.appconfig import AppConfigEmulator

SECRET = "c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seS0wMTIzNDU2Nzg5"  # base64, test only
CREDENTIAL_ID = "test-id"


@pytest.fixture
def emulator() -> Iterator[AppConfigEmulator]:
    with AppConfigEmulator(credential_id=CREDENTIAL_ID, secret_b64=SECRET) as emu:
        yield emu
