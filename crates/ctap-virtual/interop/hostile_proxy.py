"""A hostile key for measuring the client (measure_rss.sh): a UDP CTAPHID proxy in front
of `ctap serve` that forwards everything, except that it claims 2**32 results. MODE=rps
(default): enumerateRPsBegin answers get totalRPs = 2**32, enumerateCredentialsBegin
answers totalCredentials = 2**32, getAssertion answers numberOfCredentials = 2**32 - 1,
and every getNextRP/getNextCredential/getNextAssertion is answered by the proxy (a copy
of the first answer) for ever. MODE=creds: the same without touching totalRPs.
MODE=max: the most the client accepts (totalCredentials = 1024), each with a 3000-byte
name and display name. Test support only, not part of CI.
usage: MODE=... hostile_proxy.py LISTEN_PORT SERVER_HOST:SERVER_PORT"""
import os, select, socket, struct, sys
from fido2 import cbor

listen = int(sys.argv[1]); host, port = sys.argv[2].rsplit(":", 1); server = (host, int(port))
s_client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s_client.bind(("127.0.0.1", listen))
s_server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s_server.bind(("127.0.0.1", 0))
print("ready", flush=True)

class Asm:
    def __init__(s): s.cid = None; s.cmd = None; s.need = 0; s.data = b""
    def feed(s, r):
        cid, b = r[:4], r[4]
        if b & 0x80:
            s.cid, s.cmd = cid, b & 0x7F; s.need = struct.unpack(">H", r[5:7])[0]; s.data = r[7:7 + s.need]
        else:
            s.data += r[5:5 + s.need - len(s.data)]
        if len(s.data) >= s.need:
            return s.cid, s.cmd, s.data
        return None

def packets(cid, cmd, data):
    out = [cid + bytes([0x80 | cmd]) + struct.pack(">H", len(data)) + data[:57]]
    rest, seq = data[57:], 0
    while rest:
        out.append(cid + bytes([seq]) + rest[:59]); rest = rest[59:]; seq += 1
    return [p.ljust(64, b"\0") for p in out]

req_asm, ans_asm = Asm(), Asm()
client = None
last_cm = None   # (subcommand, request) of the last credMgmt/getAssertion request
canned = None    # the answer the proxy repeats for getNext*
mode = os.environ.get("MODE", "rps")
wanted = {"rps": (2, 4, "ga"), "creds": (4, "ga"), "max": (4,)}[mode]
while True:
    r, _, _ = select.select([s_client, s_server], [], [])
    if s_client in r:
        pkt, client = s_client.recvfrom(128)
        m = req_asm.feed(pkt)
        if m and m[1] == 0x10 and m[2][:1] in (b"\x0a", b"\x41"):
            sub = cbor.decode(m[2][1:]).get(1)
            if sub in (3, 5) and canned is not None:
                for p in packets(m[0], 0x10, canned): s_client.sendto(p, client)
                continue
            last_cm = sub
        elif m and m[1] == 0x10 and m[2][:1] == b"\x02":
            last_cm = "ga"
        elif m and m[1] == 0x10 and m[2][:1] == b"\x08" and canned is not None:
            for p in packets(m[0], 0x10, canned): s_client.sendto(p, client)
            continue
        elif m:
            last_cm = None
        s_server.sendto(pkt, server)
    if s_server in r:
        pkt, _ = s_server.recvfrom(128)
        m = ans_asm.feed(pkt)
        if m is None:
            if pkt[4] & 0x80 and struct.unpack(">H", pkt[5:7])[0] > 57:
                continue  # wait for the whole message
            if not (pkt[4] & 0x80):
                continue
            s_client.sendto(pkt, client); continue
        cid, cmd, data = m
        if cmd == 0x10 and data[:1] == b"\0" and last_cm in wanted:
            body = cbor.decode(data[1:])
            key = {2: 5, 4: 9, "ga": 5}[last_cm]
            body[key] = 2**32 - 1 if last_cm == "ga" else 2**32
            if mode == "max":
                body[key] = 1024
                body[6] = dict(body[6]); body[6]["name"] = "n" * 3000; body[6]["displayName"] = "d" * 3000
            data = b"\0" + cbor.encode(body)
            del body[key]
            canned = b"\0" + cbor.encode(body)
        for p in packets(cid, cmd, data): s_client.sendto(p, client)
