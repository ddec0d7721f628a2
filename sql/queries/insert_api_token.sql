-- Issues a token: its name ($1) and the SHA-256 of its secret ($2, hex).
INSERT INTO api_tokens (name, token_sha256) VALUES ($1, $2) RETURNING id
