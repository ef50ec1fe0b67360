"""A plain scan for secret values in configuration files (Terraform, tfvars, pipeline, Helm,
Dagster YAML, Dockerfile). It looks for what a leaked credential looks like, not for names:
connection-string keys, private keys, JWTs, flexlink ``t=`` tokens, passwords written as
literals, and long random-looking strings."""

from __future__ import annotations

import re
from pathlib import Path

PATTERNS = {
    "storage or App Configuration connection string": re.compile(
        r"(AccountKey|SharedAccessSignature|SharedAccessKey|Secret)=[A-Za-z0-9+/=%]{8,}"
    ),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "JWT": re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),
    "flexlink token": re.compile(r"[?&]t=[A-Za-z0-9%_\-]{8,}"),
    "literal password": re.compile(
        r"""(?ix)\b(password|passwd|client_secret|api_token|secret_value)\b["']?\s*[:=]\s*
        ["']?(?![\s"'$<{(]|env\b|\$\{|\$\(|null\b|none\b|false\b|true\b)[^\s"',}]{4,}"""
    ),
}
TOKEN_LIKE = re.compile(r"[A-Za-z0-9+/=_\-]{24,}")


def _random_looking(word: str) -> bool:
    return (
        bool(TOKEN_LIKE.fullmatch(word))
        and any(c.isupper() for c in word)
        and any(c.islower() for c in word)
        and any(c.isdigit() for c in word)
    )


def secret_findings_in_text(text: str, where: str = "<text>") -> list[str]:
    findings = []
    for number, line in enumerate(text.splitlines(), 1):
        for what, pattern in PATTERNS.items():
            if pattern.search(line):
                findings.append(f"{where}:{number}: {what}")
        for word in re.findall(r"[A-Za-z0-9+/=_\-]{24,}", line):
            if _random_looking(word):
                findings.append(f"{where}:{number}: random-looking string {word[:6]}...")
    return findings


def secret_findings(path: Path) -> list[str]:
    return secret_findings_in_text(path.read_text(), str(path))
