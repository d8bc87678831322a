"""Security of a node: CurveZMQ keys and the ZAP authenticator, hostile-input checks, drop logs.

| module       | holds                                                                   |
|--------------|-------------------------------------------------------------------------|
| keys.py      | ``zmqzab keygen``'s key files, and loading them (Keyring, client keys)  |
| zap.py       | the ZAP authenticator: which keys may connect, and whose node id a key is |
| curve.py     | CURVE options on server and client sockets                              |
| plausible.py | well-formed peer messages with impossible values (dropped, counted)     |
| drops.py     | one rate-limited warning per kind of dropped input                      |
| origins.py   | which browser requests the HTTP servers answer (Host and Origin checks) |
| runsecret.py | `zmqzab up`'s per-run control secret and its owner-only file             |
| plaintext.py | a node without CURVE off loopback starts only with ``insecure = true``    |
"""
