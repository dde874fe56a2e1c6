/** TLS material for NBD interop tests: a keys.psk file and a throwaway x509 CA with server and client certs. */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describeRun, run } from './tools.js';

/** Writes DIR/keys.psk (the name qemu's tls-creds-psk expects) for `identity`; returns its path. */
export async function writePskFile(dir: string, identity = 'alice'): Promise<string> {
  const file = path.join(dir, 'keys.psk');
  await writeFile(file, `${identity}:${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  return file;
}

export interface Pki {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const r = await run(
    'openssl',
    args.map((a) => a.replace('$DIR', cwd)),
  );
  if (r.code !== 0) throw new Error(`openssl ${args[0]} failed: ${describeRun(r)}`);
}

/**
 * A CA plus server (SAN 127.0.0.1, localhost) and client certificates, laid out as libnbd
 * and qemu expect in a tls-certificates dir: ca-cert.pem, client-cert.pem, client-key.pem.
 */
export async function makePki(dir: string): Promise<Pki> {
  const p = (f: string) => path.join(dir, f);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await openssl(
    [
      'req',
      '-x509',
      ...ec,
      '-keyout',
      p('ca-key.pem'),
      '-out',
      p('ca-cert.pem'),
      '-days',
      '2',
      '-subj',
      '/CN=rebound test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  for (const [who, usage, san] of [
    ['server', 'serverAuth', 'subjectAltName=IP:127.0.0.1,DNS:localhost\n'],
    ['client', 'clientAuth', ''],
  ]) {
    await writeFile(
      p(`${who}.ext`),
      `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyAgreement\nextendedKeyUsage=${usage}\n${san}`,
    );
    await openssl(
      ['req', ...ec, '-keyout', p(`${who}-key.pem`), '-out', p(`${who}.csr`), '-subj', `/CN=${who}`],
      dir,
    );
    await openssl(
      [
        'x509',
        '-req',
        '-in',
        p(`${who}.csr`),
        '-CA',
        p('ca-cert.pem'),
        '-CAkey',
        p('ca-key.pem'),
        '-CAcreateserial',
        '-out',
        p(`${who}-cert.pem`),
        '-days',
        '2',
        '-extfile',
        p(`${who}.ext`),
      ],
      dir,
    );
  }
  return {
    dir,
    ca: await readFile(p('ca-cert.pem'), 'utf8'),
    serverCert: await readFile(p('server-cert.pem'), 'utf8'),
    serverKey: await readFile(p('server-key.pem'), 'utf8'),
  };
}
