/**
 * Certificates with node-forge: a CA, CA-signed and self-signed leaves, and the broken
 * variants the proxy must diagnose (expired, wrong host). Keys come from node:crypto
 * (native, ~100x faster than forge's JS RSA) and are cached in module scope: every leaf
 * shares one key pair, each CA common name gets its own.
 */
import { generateKeyPairSync } from 'node:crypto'
import { isIP } from 'node:net'
import forge from 'node-forge'

export interface Pem {
  key: string
  cert: string
}

export interface LeafCert extends Pem {
  /** PEM of the issuing CA, to trust; absent for self-signed leaves. */
  caCert?: string
}

export interface LeafOptions {
  /** Issuer; default: the shared test CA. Ignored when selfSigned. */
  ca?: Pem
  commonName: string
  /** IP addresses and DNS names; default ['127.0.0.1', 'localhost']. */
  altNames?: string[]
  notBefore?: Date
  notAfter?: Date
  selfSigned?: boolean
}

const DEFAULT_CA_NAME = 'duo-diag-proxy test CA'
const DAY_MS = 24 * 3600 * 1000

let leafKeyPem: string | undefined
const caCache = new Map<string, Pem>()

function newKeyPem (): string {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  return privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()
}

function leafKey (): string {
  leafKeyPem ??= newKeyPem()
  return leafKeyPem
}

/** Positive, random 16-byte serial (leading 0x01 keeps the DER integer positive). */
function serial (): string {
  return `01${forge.util.bytesToHex(forge.random.getBytesSync(15))}`
}

function certificate (subjectCn: string, keyPem: string, notBefore: Date, notAfter: Date): forge.pki.Certificate {
  const privateKey = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey
  const cert = forge.pki.createCertificate()
  cert.publicKey = forge.pki.setRsaPublicKey(privateKey.n, privateKey.e)
  cert.serialNumber = serial()
  cert.validity.notBefore = notBefore
  cert.validity.notAfter = notAfter
  cert.setSubject([{ name: 'commonName', value: subjectCn }, { name: 'organizationName', value: 'duo-diag-proxy tests' }])
  return cert
}

/** A CA certificate and key (cached per common name). */
export function makeCa (cn: string = DEFAULT_CA_NAME): Pem {
  const cached = caCache.get(cn)
  if (cached) return cached
  const key = newKeyPem()
  const now = Date.now()
  const cert = certificate(cn, key, new Date(now - DAY_MS), new Date(now + 3650 * DAY_MS))
  cert.setIssuer(cert.subject.attributes)
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' }
  ])
  cert.sign(forge.pki.privateKeyFromPem(key), forge.md.sha256.create())
  const ca = { key, cert: forge.pki.certificateToPem(cert) }
  caCache.set(cn, ca)
  return ca
}

export function makeLeaf (opts: LeafOptions): LeafCert {
  const now = Date.now()
  const key = leafKey()
  const cert = certificate(
    opts.commonName,
    key,
    opts.notBefore ?? new Date(now - DAY_MS),
    opts.notAfter ?? new Date(now + 365 * DAY_MS)
  )
  const altNames = (opts.altNames ?? ['127.0.0.1', 'localhost']).map((name) =>
    isIP(name) !== 0 ? { type: 7, ip: name } : { type: 2, value: name })
  const extensions: object[] = [
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    { name: 'subjectAltName', altNames },
    { name: 'subjectKeyIdentifier' }
  ]
  if (opts.selfSigned) {
    cert.setIssuer(cert.subject.attributes)
    cert.setExtensions(extensions)
    cert.sign(forge.pki.privateKeyFromPem(key), forge.md.sha256.create())
    return { key, cert: forge.pki.certificateToPem(cert) }
  }
  const ca = opts.ca ?? makeCa()
  const caCert = forge.pki.certificateFromPem(ca.cert)
  cert.setIssuer(caCert.subject.attributes)
  cert.setExtensions([...extensions, { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() }])
  cert.sign(forge.pki.privateKeyFromPem(ca.key), forge.md.sha256.create())
  return { key, cert: forge.pki.certificateToPem(cert), caCert: ca.cert }
}

const convenience = new Map<string, LeafCert>()

function cachedLeaf (name: string, build: () => LeafCert): LeafCert {
  let leaf = convenience.get(name)
  if (!leaf) {
    leaf = build()
    convenience.set(name, leaf)
  }
  return leaf
}

/** Self-signed for 127.0.0.1/localhost: clients fail with DEPTH_ZERO_SELF_SIGNED_CERT. */
export function selfSignedCert (): LeafCert {
  return cachedLeaf('self-signed', () => makeLeaf({ commonName: 'localhost', selfSigned: true }))
}

/** Signed by the test CA for 127.0.0.1/localhost; trust `caCert` to accept it. */
export function caSignedCert (): LeafCert & { caCert: string } {
  const leaf = cachedLeaf('ca-signed', () => makeLeaf({ commonName: 'localhost' }))
  return { ...leaf, caCert: leaf.caCert ?? makeCa().cert }
}

/** CA-signed but expired yesterday: CERT_HAS_EXPIRED even when the CA is trusted. */
export function expiredCert (): LeafCert & { caCert: string } {
  const leaf = cachedLeaf('expired', () =>
    makeLeaf({ commonName: 'localhost', notBefore: new Date(Date.now() - 30 * DAY_MS), notAfter: new Date(Date.now() - DAY_MS) }))
  return { ...leaf, caCert: leaf.caCert ?? makeCa().cert }
}

/** CA-signed for wrong.example only: ERR_TLS_CERT_ALTNAME_INVALID on 127.0.0.1. */
export function wrongHostCert (): LeafCert & { caCert: string } {
  const leaf = cachedLeaf('wrong-host', () => makeLeaf({ commonName: 'wrong.example', altNames: ['wrong.example'] }))
  return { ...leaf, caCert: leaf.caCert ?? makeCa().cert }
}
