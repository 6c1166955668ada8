#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (docs/fuzzing.md): one directory per target
beside this script, one small meaningful input per file. Deterministic: run it again after
changing it and commit what changed.

The tokens are HS256-signed with the fuzz harnesses' fixed secret (test/fuzz/token_fuzz.cpp,
test/fuzz/http_route_fuzz.cpp). The RS256 seed is signed with the private half of the public
key in token_fuzz.cpp, which is not kept: pass --rs256-key PRIVATE.pem (and change the public
key in token_fuzz.cpp to match) to make it anew; without it the existing file stays.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import struct
import subprocess
import zlib

SECRET = b"fuzzing-secret-0123456789abcdef0123456789abcdef0123456789abcdef"
FAR = 4102444800  # 2100-01-01: after the harnesses' fixed clock (2023-11-14)
PAST = 1600000000  # 2020: before it
HERE = os.path.dirname(os.path.abspath(__file__))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact(value) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def hs256(header: dict, claims: dict, secret: bytes = SECRET) -> str:
    signing_input = b64(compact(header)) + "." + b64(compact(claims))
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(mac)


def rs256(header: dict, claims: dict, key: str) -> str:
    signing_input = b64(compact(header)) + "." + b64(compact(claims))
    signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key],
                               input=signing_input.encode(), capture_output=True,
                               check=True).stdout
    return signing_input + "." + b64(signature)


def write(target: str, name: str, data) -> None:
    directory = os.path.join(HERE, target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as out:
        out.write(data if isinstance(data, bytes) else data.encode())


HS = {"alg": "HS256", "typ": "JWT"}
ALICE = {"sub": "alice", "exp": FAR}
ALICE_IN_7 = {"sub": "alice", "exp": FAR, "groups": [7, 8]}


def client_frame() -> None:
    seeds = {
        "plain_text": "hello there",
        "message": '{"type":"message","text":"hi","ref":"c1"}',
        "message_no_ref": '{"type":"message","text":"caf\\u00e9 \\ud83d\\udc4b"}',
        "leading_blanks": ' \t\r\n{"type":"message","text":"x"}',
        "unknown_type": '{"type":"ping"}',
        "missing_type": '{"text":"no type"}',
        "type_not_string": '{"type":7,"text":"x"}',
        "empty_text": '{"type":"message","text":""}',
        "text_not_string": '{"type":"message","text":["a"]}',
        "ref_not_string": '{"type":"message","text":"x","ref":5}',
        "not_json": '{not json',
        "json_string": '"a JSON string"',
        "json_array": "[1,2,3]",
        "nested": '{"type":"message","text":"x","extra":{"a":[{"b":[[[null]]]}]}}',
        "duplicate_keys": '{"type":"message","type":"other","text":"x"}',
        "utf8": "日本語 ✓ 👋",
    }
    for name, text in seeds.items():
        write("client_frame", name, text)


def request_target() -> None:
    seeds = {
        "group": "7",
        "ws_all_params": "7?name=alice&echo=1&since=41&token=abc.def.ghi",
        "ws_name_escaped": "7?name=%E6%97%A5%20x+y",
        "ws_bad_escape": "7?name=%zz",
        "ws_since_max": "9223372036854775807?since=9223372036854775807",
        "ws_since_negative": "7?since=-1",
        "ws_echo_bad": "7?echo=2",
        "group_zero": "0",
        "group_overflow": "92233720368547758070",
        "api_messages": "7/messages?since=3&limit=50",
        "api_latest": "7/messages",
        "api_limit_over": "7/messages?limit=1001",
        "api_members": "12/members?ignored=1",
        "api_unknown": "7/other",
        "empty_pairs": "7?&&=&name",
    }
    for name, text in seeds.items():
        write("request_target", name, text)


def http_route() -> None:
    token = hs256(HS, ALICE_IN_7)
    no_groups = hs256(HS, ALICE)

    def request(line: str, headers=(), body: str = "") -> str:
        lines = [line, "Host: localhost"] + list(headers)
        if body:
            lines.append("Content-Length: %d" % len(body.encode()))
        return "\r\n".join(lines) + "\r\n\r\n" + body

    upgrade = ["Upgrade: websocket", "Connection: Upgrade",
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"]
    login = '{"username":"alice","password":"secret"}'
    seeds = {
        "healthz": request("GET /healthz HTTP/1.1"),
        "index": request("GET / HTTP/1.1"),
        "asset_head": request("HEAD /app.js HTTP/1.0"),
        "not_found": request("GET /nothing/here?x=1 HTTP/1.1"),
        "messages_bearer": request("GET /api/groups/7/messages?since=0&limit=10 HTTP/1.1",
                                   ["Authorization: Bearer " + token]),
        "latest_bearer": request("GET /api/groups/7/messages HTTP/1.1",
                                 ["Authorization: Bearer " + token]),
        "members_bearer": request("GET /api/groups/8/members HTTP/1.1",
                                  ["Authorization: Bearer " + token]),
        "member_of_none": request("GET /api/groups/7/members HTTP/1.1",
                                  ["Authorization: Bearer " + no_groups]),
        "groups_cookie": request("GET /api/groups HTTP/1.1",
                                 ["Cookie: a=b; huddle_token=" + token,
                                  "Origin: http://localhost"]),
        "groups_cross_site": request("GET /api/groups HTTP/1.1",
                                     ["Cookie: huddle_token=" + token,
                                      "Origin: http://evil.example"]),
        "login": request("POST /api/login HTTP/1.1",
                         ["Content-Type: application/json"], login),
        "login_form": request("POST /api/login HTTP/1.1",
                              ["Content-Type: text/plain"], login),
        "logout": request("POST /api/logout HTTP/1.1"),
        "post_messages": request("POST /api/groups/7/messages HTTP/1.1",
                                 ["Content-Type: application/json"], '{"text":"hi"}'),
        "ws_upgrade": request("GET /ws/7?name=alice&since=3 HTTP/1.1", upgrade),
        "ws_upgrade_token": request("GET /ws/7?token=" + token + " HTTP/1.1", upgrade),
        "ws_bad_group": request("GET /ws/x HTTP/1.1", upgrade),
        "ws_no_upgrade": request("GET /ws/7 HTTP/1.1"),
        "pipelined": request("GET /healthz HTTP/1.1") + request("GET /api/groups HTTP/1.1")
        + request("GET /api/groups/7/messages?limit=1 HTTP/1.1", ["Connection: close"]),
        "chunked": "POST /api/login HTTP/1.1\r\nHost: localhost\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\n{\"use\r\n0\r\n\r\n",
        "bad_request_line": "GET\r\n\r\n",
    }
    for name, text in seeds.items():
        write("http_route", name, text)


def token(rs256_key) -> None:
    seeds = {
        "valid": hs256(HS, ALICE),
        "valid_groups": hs256(HS, ALICE_IN_7),
        "valid_iss_aud": hs256(HS, {"sub": "alice", "exp": FAR,
                                    "iss": "https://issuer.example", "aud": ["x", "huddle"]}),
        "expired": hs256(HS, {"sub": "alice", "exp": PAST}),
        "no_subject": hs256(HS, {"exp": FAR}),
        "bad_subject": hs256(HS, {"sub": "al ice", "exp": FAR}),
        "wrong_key": hs256(HS, ALICE, b"another-secret-0123456789abcdef0123456789"),
        "alg_none": b64(compact({"alg": "none"})) + "." + b64(compact(ALICE)) + ".",
        "alg_rs256_hmac": hs256({"alg": "RS256"}, ALICE),
        "crit": hs256({"alg": "HS256", "crit": ["exp"]}, ALICE),
        "two_segments": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0",
        "user_name": "alice",
        # `<header>\n<claims>`: the harness signs these itself (token_fuzz.cpp).
        "signed_valid": '{"alg":"HS256","typ":"JWT"}\n{"sub":"bob","exp":4102444800,"groups":[1,2]}',
        "signed_float_exp": '{"alg":"HS256"}\n{"sub":"bob","exp":4102444800.5,"nbf":1.5e9}',
        "signed_huge_exp": '{"alg":"HS256"}\n{"sub":"bob","exp":18446744073709551615}',
        "signed_bad_groups": '{"alg":"HS256"}\n{"sub":"bob","exp":4102444800,"groups":[0,-1,"7",1.5]}',
        "signed_iss_aud": '{"alg":"HS256"}\n{"sub":"bob","exp":4102444800,'
        '"iss":"https://issuer.example","aud":"huddle"}',
        "signed_not_object": '{"alg":"HS256"}\n[1,2]',
    }
    for name, text in seeds.items():
        write("token", name, text)
    if rs256_key:
        write("token", "rs256_valid", rs256({"alg": "RS256", "typ": "JWT"}, ALICE_IN_7, rs256_key))


def frame_reader() -> None:
    def frame(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0, masked: bool = True,
              length_size: int = 0, declared=None, mask: bytes = b"\x00\x00\x00\x00") -> bytes:
        # A zero key by default: the payload bytes are what libFuzzer mutates.
        size = len(payload) if declared is None else declared
        head = bytes([(0x80 if fin else 0) | rsv | opcode])
        bit = 0x80 if masked else 0
        if length_size == 0:
            length_size = 0 if size < 126 else 2 if size < 65536 else 8
        if length_size == 0:
            head += bytes([bit | size])
        elif length_size == 2:
            head += bytes([bit | 126]) + struct.pack("!H", size)
        else:
            head += bytes([bit | 127]) + struct.pack("!Q", size)
        if not masked:
            return head + payload
        return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))

    text, binary, close, ping, pong, cont = 1, 2, 8, 9, 10, 0
    key = b"\x37\xfa\x21\x3d"
    # Byte 0: options (bit 0: allow_rsv1); bytes 1-2: where the harness cuts the rest in two.
    plain = b"\x00\x00\x03"
    deflate = b"\x01\x00\x05"
    seeds = {
        "text": plain + frame(text, b"hello"),
        "text_masked": plain + frame(text, b"hello there", mask=key),
        "several": plain + frame(text, b"one") + frame(binary, b"\x00\xff") + frame(pong, b"")
        + frame(text, b""),
        "fragmented": plain + frame(text, b"hel", fin=False) + frame(ping, b"p")
        + frame(cont, b"lo", fin=False, mask=key) + frame(pong, b"q") + frame(cont, b"!"),
        "utf8_split": b"\x00\x00\x09" + frame(text, "a\U0001F44B".encode()[:3], fin=False)
        + frame(cont, "a\U0001F44B".encode()[3:] + "日本".encode()),
        "utf8_invalid": plain + frame(text, b"caf\xc3(") + frame(text, b"x"),
        "utf8_surrogate": plain + frame(text, b"\xed\xa0\x80", fin=False),
        "binary": plain + frame(binary, bytes(range(256))),
        "close_reason": plain + frame(close, struct.pack("!H", 1000) + "bye é".encode()),
        "close_empty": plain + frame(close, b"") + frame(text, b"after"),
        "close_bad_code": plain + frame(close, struct.pack("!H", 1005)),
        "close_one_byte": plain + frame(close, b"\x03"),
        "close_bad_reason": plain + frame(close, struct.pack("!H", 4000) + b"\xff"),
        "ping_125": plain + frame(ping, b"p" * 125),
        "ping_126": plain + frame(ping, b"p" * 126),
        "ping_not_final": plain + frame(ping, b"", fin=False),
        "at_limit": plain + frame(text, b"a" * 1024),
        "over_limit": plain + frame(text, b"", declared=1025),
        "over_limit_fragments": plain + frame(binary, b"a" * 1000, fin=False)
        + frame(cont, b"", declared=25),
        "length_16_not_minimal": plain + frame(text, b"a" * 20, length_size=2),
        "length_64_not_minimal": plain + frame(text, b"a" * 20, length_size=8),
        "length_64_top_bit": plain + frame(binary, b"", declared=1 << 63),
        "unmasked": plain + frame(text, b"plain", masked=False),
        "reserved_opcode": plain + frame(3, b"x") + frame(0xB, b""),
        "reserved_bits": plain + frame(text, b"x", rsv=0x40),
        "rsv1_compressed": deflate + frame(text, b"\xf2\x48\xcd\xc9\xc9\x07\x00", rsv=0x40)
        + frame(binary, b"z", fin=False, rsv=0x40) + frame(cont, b"z", rsv=0x40),
        "continuation_alone": plain + frame(cont, b"x"),
        "new_message_in_fragmented": plain + frame(text, b"a", fin=False) + frame(text, b"b"),
    }
    for name, data in seeds.items():
        write("frame_reader", name, data)


def envelope() -> None:
    seeds = {
        "welcome": '{"type":"welcome","group":7,"user":"alice","last_id":41,"members":["bob"]}',
        "message": '{"type":"message","group":7,"id":42,"from":"alice","text":"hi","ts":1764000000123}',
        "ack": '{"type":"ack","ref":"c1","id":42}',
        "error": '{"type":"error","code":"rate_limited","detail":"slow down"}',
        "join": '{"type":"join","group":7,"user":"bob"}',
        "text_lookalike": '{"type":"message","text":"\\",\\"id\\":9","id":10}',
        "spaced": '{ "type" : "message" ,\n "id" : 7 }',
        "id_max": '{"type":"message","id":18446744073709551615}',
        "id_over": '{"type":"message","id":18446744073709551616}',
        "id_float": '{"type":"message","id":1e3}',
        "raw_relay": "just some text",
    }
    for name, text in seeds.items():
        write("envelope", name, text)


def permessage_deflate() -> None:
    # Byte 0 below 128: a Sec-WebSocket-Extensions value; from 128: a compressed payload.
    offers = {
        "chromium": "permessage-deflate; client_max_window_bits",
        "firefox": "permessage-deflate",
        "several": "x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=10, "
                   "permessage-deflate; client_no_context_takeover",
        "quoted": 'permessage-deflate; client_max_window_bits="15"; server_max_window_bits=15',
        "invalid": "permessage-deflate; client_max_window_bits=99; mystery",
    }
    for name, text in offers.items():
        write("permessage_deflate", "offer_" + name, b"\x00" + text.encode())
    for name, text in {"hello": b"hello", "json": b'{"type":"message","text":"hi"}' * 8,
                       "zeros": bytes(100000)}.items():
        stream = zlib.compressobj(6, zlib.DEFLATED, -15)
        payload = stream.compress(text) + stream.flush(zlib.Z_SYNC_FLUSH)
        write("permessage_deflate", "message_" + name, b"\x80" + payload[:-4])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rs256-key", help="RSA private key (PEM) for the RS256 token seed")
    args = parser.parse_args()
    client_frame()
    request_target()
    http_route()
    token(args.rs256_key)
    envelope()
    frame_reader()
    permessage_deflate()


if __name__ == "__main__":
    main()
