// verify.mjs: checks SM2 signatures made by jiaozi with sm-crypto, an SM2 implementation that
// shares no code with OpenSSL. Each input line is "PUBLIC_KEY_HEX MESSAGE_HEX SIGNATURE_DER_HEX"
// (the public key as 04||x||y); each output line is "ok" or "bad". The message is hashed with
// SM3 after Z, computed with the GM/T 0009 default signer id 1234567812345678 (given explicitly).
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const require = createRequire(import.meta.url);
const { sm2 } = require('sm-crypto');

const lines = readFileSync(process.argv[2] ?? 0, 'utf8').split('\n').filter((l) => l.trim());
for (const line of lines) {
  const [pub, msg, sig] = line.trim().split(/\s+/);
  const bytes = Array.from(Buffer.from(msg, 'hex'));
  const good = sm2.doVerifySignature(bytes, sig, pub, {
    der: true,
    hash: true,
    userId: '1234567812345678',
  });
  console.log(good ? 'ok' : 'bad');
}
