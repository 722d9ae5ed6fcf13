"""Helpers for .ci/browser (python3 standard library only).

  browser.py console CHROMIUM URL [CHROMIUM FLAG...]
      Loads URL in headless Chromium driven over the DevTools protocol on
      --remote-debugging-pipe (fd 3: commands in, fd 4: replies out, NUL-terminated JSON).
      Prints every console error, uncaught exception, error log entry and request to a
      non-local URL (anything but file:, data:, about:, blob:); exits 1 if there was any,
      2 if the page did not load. Prints the title and the number of <svg> elements.

  browser.py png FILE MIN_NON_WHITE_FRACTION MIN_COLOURS
      Decodes a non-interlaced 8-bit RGB/RGBA PNG and exits 1 unless at least the given
      fraction of its pixels is non-white and it has at least MIN_COLOURS distinct colours.
"""

import json
import os
import select
import struct
import subprocess
import sys
import time
import zlib

LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")


def console(chromium, url, flags):
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()

    def fds_3_and_4():
        # Move the child's ends above any fd that could be 3 or 4, then onto 3 and 4.
        a, b = os.dup(to_child_r), os.dup(from_child_w)
        a, b = os.dup2(a, 100), os.dup2(b, 101)
        os.dup2(a, 3)
        os.dup2(b, 4)

    proc = subprocess.Popen(
        [chromium, *flags, "--remote-debugging-pipe", "about:blank"],
        preexec_fn=fds_3_and_4,
        pass_fds=(3, 4),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(to_child_r)
    os.close(from_child_w)
    out = os.fdopen(to_child_w, "wb", buffering=0)
    inp = os.fdopen(from_child_r, "rb", buffering=0)
    buf = b""
    next_id = 0
    problems = []
    loaded = False

    def send(method, params=None, session=None):
        nonlocal next_id
        next_id += 1
        msg = {"id": next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        out.write(json.dumps(msg).encode() + b"\0")
        return next_id

    def note(msg):
        nonlocal loaded
        method, p = msg.get("method"), msg.get("params", {})
        if method == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            text = d.get("exception", {}).get("description") or d.get("text")
            problems.append(f"uncaught exception: {text}")
        elif method == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"])
            problems.append(f"console.{p['type']}: {args}")
        elif method == "Log.entryAdded" and p["entry"]["level"] == "error":
            e = p["entry"]
            problems.append(f"log error ({e.get('source')}): {e.get('text')} {e.get('url', '')}")
        elif method == "Network.requestWillBeSent":
            u = p["request"]["url"]
            if not u.startswith(LOCAL_SCHEMES):
                problems.append(f"request to a non-local URL: {u}")
        elif method == "Page.loadEventFired":
            loaded = True

    def read_until(pred, deadline):
        nonlocal buf
        while time.monotonic() < deadline:
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "error" in msg:
                    raise RuntimeError(f"DevTools error: {msg['error']}")
                note(msg)
                if pred(msg):
                    return msg
            r, _, _ = select.select([inp], [], [], max(0.0, deadline - time.monotonic()))
            if r:
                chunk = inp.read(1 << 16)
                if not chunk:
                    raise RuntimeError("chromium closed the DevTools pipe (did it crash?)")
                buf += chunk
        return None

    def call(method, params=None, session=None, timeout=30):
        i = send(method, params, session)
        msg = read_until(lambda m: m.get("id") == i, time.monotonic() + timeout)
        if msg is None:
            raise RuntimeError(f"no reply to {method} within {timeout} s")
        return msg.get("result", {})

    try:
        target = call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            call(f"{domain}.enable", session=session)
        nav = call("Page.navigate", {"url": url}, session=session)
        if "errorText" in nav:
            print(f"{url}: navigation failed: {nav['errorText']}")
            return 2
        read_until(lambda m: m.get("method") == "Page.loadEventFired", time.monotonic() + 30)
        # Late errors (timers, load handlers): keep listening a little after the load event.
        read_until(lambda m: False, time.monotonic() + 1.0)
        js = 'document.title + " | svg elements: " + document.querySelectorAll("svg").length'
        page = call("Runtime.evaluate", {"expression": js}, session=session)
        print(f"title: {page['result'].get('value')}")
        try:
            call("Browser.close", timeout=5)
        except RuntimeError:
            pass
    finally:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for p in problems:
        print(p)
    if not loaded:
        print(f"{url}: no load event within 30 s")
        return 2
    print(f"{url}: loaded, {len(problems)} console errors/exceptions/non-local requests")
    return 1 if problems else 0


def png(path, min_fraction, min_colours):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        print(f"{path}: not a PNG")
        return 1
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = ihdr
    if depth != 8 or colour not in (2, 6) or interlace != 0:
        print(f"{path}: unsupported PNG (bit depth {depth}, colour type {colour}, interlace {interlace})")
        return 1
    bpp = 3 if colour == 2 else 4
    stride = width * bpp
    raw = zlib.decompress(b"".join(idat))
    prev = bytearray(stride)
    non_white = 0
    colours = set()
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        if f == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif f == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev))
        elif f == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif f == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        elif f != 0:
            print(f"{path}: bad PNG filter type {f} in row {y}")
            return 1
        prev = line
        for x in range(0, stride, bpp):
            px = bytes(line[x : x + 3])
            if px != b"\xff\xff\xff":
                non_white += 1
            if len(colours) < 100000:
                colours.add(px)
    fraction = non_white / (width * height)
    ok = fraction >= min_fraction and len(colours) >= min_colours
    print(
        f"{path}: {width}x{height}, {fraction:.1%} non-white pixels (need {min_fraction:.1%}), "
        f"{len(colours)} distinct colours (need {min_colours})"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "console":
        sys.exit(console(sys.argv[2], sys.argv[3], sys.argv[4:]))
    if len(sys.argv) == 5 and sys.argv[1] == "png":
        sys.exit(png(sys.argv[2], float(sys.argv[3]), int(sys.argv[4])))
    sys.exit(__doc__)
