"""Server CPU per request of two or more `ctap` release binaries' `ctap serve`,
alternating round by round (crates/ctap-cli/README.md, the size paragraph: the
opt-level check of issue 25).

Usage: python3 serve_server_cpu.py ROUNDS N CTAP1 CTAP2 ...

Each (round, binary, operation) is one fresh `ctap serve --udp 127.0.0.1:0
--touch-delay 0` process driven over CTAPHID/UDP by this script: N operations, then
SIGTERM and `wait4`, whose rusage (user + system) is the server's CPU; a baseline
(start, INIT, stop; for getAssertion also the one makeCredential it needs) is
subtracted. Operations: makeCredential (not discoverable) and getAssertion for each
COSE algorithm of ALGS (environment, default "-7,-8": ES256 and EdDSA), and, with the
default ALGS, a PIN token (protocol 1: getKeyAgreement, then getPinToken with the
ECDH-encrypted PIN hash of `serve --pin 123456`; needs the `cryptography` module).
Prints per binary the median us/request and each round's value, and the median of the
per-round ratios to the first binary. With VG=1 each server runs under valgrind's
callgrind and the figures are instructions per request (thousands of them shown as
"us"), which other load on the machine does not disturb.
Standard library only (plus `cryptography` for the PIN token); CBOR and CTAPHID are
written out here, minimal.
"""
import os, socket, struct, subprocess, sys, signal, statistics, tempfile

RP = "example.com"
ALGS = [int(x) for x in os.environ.get("ALGS", "-7,-8").split(",")]
PIN_TOKEN = "ALGS" not in os.environ


def enc(v):
    def head(major, n):
        if n < 24:
            return bytes([major << 5 | n])
        if n < 256:
            return bytes([major << 5 | 24, n])
        if n < 65536:
            return bytes([major << 5 | 25]) + struct.pack(">H", n)
        return bytes([major << 5 | 26]) + struct.pack(">I", n)
    if isinstance(v, bool):
        return bytes([0xF5 if v else 0xF4])
    if isinstance(v, int):
        return head(0, v) if v >= 0 else head(1, -1 - v)
    if isinstance(v, bytes):
        return head(2, len(v)) + v
    if isinstance(v, str):
        b = v.encode()
        return head(3, len(b)) + b
    if isinstance(v, list):
        return head(4, len(v)) + b"".join(enc(x) for x in v)
    if isinstance(v, dict):
        return head(5, len(v)) + b"".join(enc(k) + enc(x) for k, x in v.items())
    raise TypeError(v)


def dec(b, i=0):
    ib = b[i]; major = ib >> 5; ai = ib & 31; i += 1
    if ai < 24: n = ai
    elif ai == 24: n = b[i]; i += 1
    elif ai == 25: n = struct.unpack(">H", b[i:i+2])[0]; i += 2
    elif ai == 26: n = struct.unpack(">I", b[i:i+4])[0]; i += 4
    elif ai == 27: n = struct.unpack(">Q", b[i:i+8])[0]; i += 8
    else: raise ValueError("indef")
    if major == 0: return n, i
    if major == 1: return -1 - n, i
    if major == 2: return b[i:i+n], i + n
    if major == 3: return b[i:i+n].decode(), i + n
    if major == 4:
        out = []
        for _ in range(n):
            x, i = dec(b, i); out.append(x)
        return out, i
    if major == 5:
        out = {}
        for _ in range(n):
            k, i = dec(b, i); x, i = dec(b, i); out[k] = x
        return out, i
    if major == 7: return {20: False, 21: True, 22: None}.get(ai), i
    raise ValueError(major)


class Dev:
    def __init__(self, port):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.connect(("127.0.0.1", port)); self.s.settimeout(60)
        self.cid = b"\xff\xff\xff\xff"
        r = self.call(0x06, os.urandom(8))
        self.cid = r[8:12]

    def call(self, cmd, data):
        pkt = self.cid + bytes([0x80 | cmd]) + struct.pack(">H", len(data)) + data[:57]
        self.s.send(pkt.ljust(64, b"\0"))
        rest = data[57:]; seq = 0
        while rest:
            self.s.send((self.cid + bytes([seq]) + rest[:59]).ljust(64, b"\0"))
            rest = rest[59:]; seq += 1
        while True:
            r = self.s.recv(64)
            if r[4] == 0xBB:
                continue
            assert r[4] == 0x80 | cmd, r.hex()
            n = struct.unpack(">H", r[5:7])[0]
            out = r[7:7 + n]
            while len(out) < n:
                c = self.s.recv(64); out += c[5:5 + n - len(out)]
            return out

    def cbor(self, cmd, m):
        r = self.call(0x10, bytes([cmd]) + enc(m))
        assert r[0] == 0, "status %#x" % r[0]
        return dec(r, 1)[0] if len(r) > 1 else None


def make(d, alg):
    r = d.cbor(1, {1: os.urandom(32), 2: {"id": RP, "name": "Example"},
                   3: {"id": b"user-1", "name": "alice"},
                   4: [{"alg": alg, "type": "public-key"}]})
    ad = r[2]
    n = struct.unpack(">H", ad[53:55])[0]
    return ad[55:55 + n]


def assertion(d, cid):
    d.cbor(2, {1: RP, 2: os.urandom(32), 3: [{"id": cid, "type": "public-key"}]})


def pin_token(d):
    """clientPin getPinToken, PIN/UV auth protocol 1 (CTAP 2.1 §6.5.5.7.1)."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    import hashlib
    r = d.cbor(6, {1: 1, 2: 2})
    peer = r[1]
    pub = ec.EllipticCurvePublicNumbers(int.from_bytes(peer[-2], "big"),
                                        int.from_bytes(peer[-3], "big"), ec.SECP256R1()).public_key()
    priv = ec.generate_private_key(ec.SECP256R1())
    z = priv.exchange(ec.ECDH(), pub)
    shared = hashlib.sha256(z).digest()
    nums = priv.public_key().public_numbers()
    ka = {1: 2, 3: -25, -1: 1, -2: nums.x.to_bytes(32, "big"), -3: nums.y.to_bytes(32, "big")}
    enc_ = Cipher(algorithms.AES(shared), modes.CBC(b"\0" * 16)).encryptor()
    ph = enc_.update(hashlib.sha256(b"123456").digest()[:16]) + enc_.finalize()
    r = d.cbor(6, {1: 1, 2: 5, 3: ka, 6: ph})
    assert len(r[2]) in (16, 32), r


def run(binary, state, job, n):
    """job: None (baseline), ('mc', alg) or ('ga', alg, cid). Returns cpu seconds."""
    vg = []
    out = None
    if os.environ.get("VG"):
        out = tempfile.mktemp(prefix="cg.")
        vg = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out]
    p = subprocess.Popen(vg + [binary, "serve", "--udp", "127.0.0.1:0", "--touch-delay", "0"] + (["--pin", "123456"] if job and job[0] in ("pt", "ptbase") else []), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = p.stdout.readline().decode()
    port = int(line.strip().rsplit(":", 1)[1])
    d = Dev(port)
    res = None
    if job is None:
        pass
    elif job[0] == "ptbase":
        pass
    elif job[0] == "pt":
        for _ in range(n):
            pin_token(d)
    elif job[0] == "base":
        make(d, job[1])
    elif job[0] == "mc":
        for _ in range(n):
            res = make(d, job[1])
    else:
        cid = make(d, job[1])
        for _ in range(n):
            assertion(d, cid)
    os.kill(p.pid, signal.SIGTERM)
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = 0
    if out:
        ir = None
        for l in open(out):
            if l.startswith("summary:") or l.startswith("totals:"):
                ir = int(l.split()[1])
        os.unlink(out)
        return ir / 1e6, res  # "us" columns are then thousands of instructions
    return ru.ru_utime + ru.ru_stime, res


def main():
    rounds = int(sys.argv[1]); n = int(sys.argv[2]); bins = sys.argv[3:]
    res = {}
    for r in range(rounds):
        order = bins if r % 2 == 0 else bins[::-1]
        for b in order:
            base = run(b, None, None, 0)[0]
            for alg in ALGS:
                base1 = run(b, None, ("base", alg), 0)[0]
                for op in ("mc", "ga"):
                    job = ("mc", alg) if op == "mc" else ("ga", alg, None)
                    cpu = run(b, None, job, n)[0] - (base1 - base if op == "ga" else 0)
                    res.setdefault((b, alg, op), []).append((cpu - base) / n * 1e6)
            if not PIN_TOKEN:
                continue
            ptb = run(b, None, ("ptbase",), 0)[0]
            res.setdefault((b, 0, "pt"), []).append((run(b, None, ("pt",), n)[0] - ptb) / n * 1e6)
        print("round", r, open("/proc/loadavg").read().split()[:3], flush=True)
    ops = [(a, o) for a in ALGS for o in ("mc", "ga")] + ([(0, "pt")] if PIN_TOKEN else [])
    for alg, op in ops:
        meds = []
        for b in bins:
            v = res[(b, alg, op)]
            meds.append(statistics.median(v))
            print("%4d %s %-24s median %7.1f us  all %s" % (alg, op, os.path.basename(b),
                  statistics.median(v), " ".join("%.0f" % x for x in v)))
        print("   ratio %s" % " ".join("%.3f" % (m / meds[0]) for m in meds))
        # per-round ratios
        for b in bins[1:]:
            rr = [x / y for x, y in zip(res[(b, alg, op)], res[(bins[0], alg, op)])]
            print("   per-round ratio %s vs first: median %.3f  %s" % (
                os.path.basename(b), statistics.median(rr), " ".join("%.3f" % x for x in rr)))


if __name__ == "__main__":
    main()
