-- wrk script: one ~200-byte JSON POST per request, keep-alive, with the headers a
-- signed jiaozi request carries.
wrk.method = "POST"
wrk.path = "/echo"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Jz-Key"] = "merchant-0042"
wrk.headers["X-Jz-Signature"] = "3f1c9a8e0b7d6c5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a"
wrk.body = '{"idempotency_key":"7b2e9c4a-1f3d-4e5a-9b8c-0d1e2f3a4b5c","from":"wallet:000000001234",'
  .. '"to":"wallet:000000005678","amount":"125.50","currency":"CNY",'
  .. '"memo":"order 2024-000123","ts":"2024-01-01T00:00:00Z"}'
