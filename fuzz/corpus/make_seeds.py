#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz/ harnesses, one small file per seed.

The inputs are byte encodings (see each harness's file comment), so they are
spelled here with the same vocabulary as the harnesses. Re-run after changing
a seed or an encoding:

    fuzz/corpus/make_seeds.py

It rewrites fuzz/corpus/<harness>/<seed> for every seed below and touches
nothing else.
"""

import pathlib

HERE = pathlib.Path(__file__).resolve().parent
SEGMENTS = "abc"


def resources(*specs):
    """A lock's resources as fuzz::ReadResources reads them.

    Each spec is "r" or "w", then the path as letters of a, b, c: "wab" is
    write ["a","b"], "r" is read [].
    """
    assert 1 <= len(specs) <= 4
    out = [len(specs) - 1]
    for spec in specs:
        access, path = spec[0], spec[1:]
        assert access in "rw" and len(path) <= 3
        out.append((access == "w") | len(path) << 1)
        out.extend(SEGMENTS.index(s) for s in path)
    return out


# ---- engine_vs_model: op % 4 is 0 request, 2 release the k-th live lock,
# 3 release a non-live ID.


def request(*specs):
    return [0] + resources(*specs)


def release_live(k):
    return [2, k]


def release_not_live(j):
    return [3, j]


ENGINE_VS_MODEL = {
    # docs/semantics.md's example: the write on [a,b] blocks the read on [a],
    # which blocks the later write on its sibling [a,c]; [b] is free.
    "readme-example": request("wab") + request("ra") + request("wac") +
    request("rb") + release_live(0) + release_live(0) + release_live(0) +
    release_live(0),
    # Readers share, a writer waits for them, later readers wait for it.
    "readers-then-writer": request("ra") + request("ra") + request("wa") +
    request("ra") + release_live(0) + release_live(0) + release_live(0) +
    release_live(0),
    # The whole namespace ([]) overlaps every path.
    "root-lock": request("rab") + request("w") + request("rc") +
    request("r") + release_live(0) + release_live(1) + release_live(0) +
    release_live(0),
    # Cancelling an enqueued lock wakes whoever waited only for it.
    "cancel-enqueued": request("wa") + request("rab") + request("wabc") +
    release_live(1) + release_live(0) + release_live(0),
    # One lock of several resources, duplicates and overlaps included.
    "multi-resource": request("wa", "ra", "wab", "r") + request("rb", "rc") +
    request("wcab") + release_live(0) + release_live(0) + release_live(0),
    # Releases of IDs that are not live change nothing.
    "release-not-live": release_not_live(0) + request("wa") +
    release_not_live(1) + release_live(0) + release_not_live(2),
}

# ---- session: op = event | client << 3 | abandon << 5, where abandon picks
# a 1000 ms abandon timeout (else 0) when the client connects.
LOCK, RELEASE, GARBAGE, DROP, TIMER, NOTICE, RECONNECT = 0, 2, 3, 4, 5, 6, 7


def event(kind, client=0, abandon=True):
    return kind | client << 3 | abandon << 5


def lock(client, *specs, abandon=True):
    return [event(LOCK, client, abandon)] + resources(*specs)


def release(client):
    return [event(RELEASE, client)]


def garbage(client, text):
    data = text.encode()
    assert len(data) < 240
    return [event(GARBAGE, client), len(data)] + list(data)


def oversized(client):
    return [event(GARBAGE, client), 255]


def drop(client):
    return [event(DROP, client)]


def fire_timer(j):
    return [event(TIMER), j]


def deliver_notice(j):
    return [event(NOTICE), j]


def reconnect(client, abandon=True):
    return [event(RECONNECT, client, abandon)]


# With a gate (an input whose first op is one): op = GATE | event, then the
# event's bytes, in ms from the clock's now.
GATE = 0xC0
ADVANCE, GRACE, OPEN, END_GRACE, CLOSE, EXTEND, CEILING, TO_DEADLINE = range(8)


def advance(ms):
    return [GATE | ADVANCE, ms]


def grace(until, window):
    return [GATE | GRACE, until, window]


def open_gate(window):
    return [GATE | OPEN, window]


def end_grace():
    return [GATE | END_GRACE]


def close_gate():
    return [GATE | CLOSE]


def extend(window):
    return [GATE | EXTEND, window]


def ceiling(above_last, block):
    """The ceiling at the last issued ID + above_last, raised by block IDs."""
    assert 0 <= above_last < 4 and 0 <= block < 8
    return [GATE | CEILING, above_last | block << 2]


def to_deadline():
    return [GATE | TO_DEADLINE]


# A session event: op = SESSION_OP | event | client << 3 | window << 5; a
# client's first one opens its session (window 1000 ms, else 0).
SESSION_OP = 0x40
(RESUME, WINDOW, CORRUPT, STALE_FRAME, STALE_END, STALE_NOTICE, FORCE,
 NEW_SESSION) = range(8)


def session_event(kind, client, window=True):
    return SESSION_OP | kind | client << 3 | window << 5


def open_session(client, window=True):
    """Client's first event: its session opens (its window timer: none)."""
    return [session_event(WINDOW, client, window)]


def resume(client):
    return [session_event(RESUME, client)]


def fire_window(client):
    return [session_event(WINDOW, client)]


def corrupt_tokens(client, b):
    return [session_event(CORRUPT, client), b]


def stale_release(client, j):
    return [session_event(STALE_FRAME, client), j, 1]


def stale_lock(client, j, *specs):
    return [session_event(STALE_FRAME, client), j, 0] + resources(*specs)


def stale_end(client, j):
    return [session_event(STALE_END, client), j]


def stale_notice(client, j):
    return [session_event(STALE_NOTICE, client), j]


def force_release(client):
    return [session_event(FORCE, client)]


SESSION = {
    # Acquired, enqueued, released; the notice reaches the waiter.
    "lock-queue-release": lock(0, "wa") + lock(1, "wa") + release(0) +
    deliver_notice(0) + release(1),
    # The release crosses the acquisition notice: it arrives stale.
    "release-crosses-notice": lock(0, "wa") + lock(1, "wa") + release(0) +
    release(1) + deliver_notice(0),
    # A drop while enqueued cancels the lock; the one behind it moves up.
    "drop-enqueued": lock(0, "wa") + lock(1, "wa") + lock(2, "ra") + drop(1) +
    release(0) + deliver_notice(0) + release(2),
    # A drop while acquired keeps the lock until its abandon timer fires.
    "drop-acquired": lock(0, "wa") + lock(1, "rab") + drop(0) + fire_timer(0) +
    deliver_notice(0) + release(1),
    # With an abandon timeout of 0 the lock goes at once.
    "abandon-zero": lock(0, "w", abandon=False) + lock(1, "rc") + drop(0) +
    deliver_notice(0),
    # Protocol errors: release in ready, lock twice, garbage, oversized.
    "protocol-errors": release(0) + lock(1, "wa") + lock(1, "wb") +
    garbage(2, '{"action":"unlock"}') + oversized(3) + lock(3, "r"),
    # Reconnecting replaces a client; its old lock is abandoned.
    "reconnect": lock(0, "wa", "rb") + reconnect(0) + lock(0, "wa") +
    fire_timer(0) + deliver_notice(0) + release(0),
    # In the grace, an acquisition is held (the client reads enqueued) and
    # announced when the grace ends; one behind it follows once released.
    "gate-grace": grace(100, 200) + lock(0, "wa") + lock(1, "wa") +
    advance(50) + end_grace() + deliver_notice(0) + release(0) +
    deliver_notice(0) + release(1),
    # A grace that has passed grants even before EndGrace runs; the held
    # acquisition still waits for it.
    "gate-grace-passes": grace(50, 255) + lock(0, "wa") + to_deadline() +
    lock(1, "rb") + end_grace() + deliver_notice(0) + release(1) +
    release(0),
    # Past the window nothing is announced: the waiter stays enqueued, and
    # its release is a cancel; an extended window grants again.
    "gate-window-expiry": open_gate(50) + lock(0, "wa") + lock(1, "wa") +
    to_deadline() + release(0) + deliver_notice(0) + release(1) +
    extend(100) + lock(2, "rb") + lock(3, "wb") + release(2) +
    deliver_notice(0) + release(3),
    # A closed gate refuses, the held acquisition too; it is told again when
    # a later grace ends.
    "gate-close": grace(100, 255) + lock(0, "wa") + close_gate() +
    lock(1, "rb") + end_grace() + release(1) + grace(10, 255) +
    to_deadline() + end_grace() + deliver_notice(0) + release(0),
    # At the ID ceiling: a raise is asked from its middle on, and an ID
    # above it is refused with close 1013 until the ceiling is raised.
    "gate-ceiling": open_gate(255) + lock(0, "ra") + ceiling(1, 4) +
    lock(1, "ra") + lock(2, "ra") + lock(3, "wa") + ceiling(3, 2) +
    reconnect(3) + lock(3, "ra") + release(0) + release(1) + ceiling(0, 0) +
    lock(0, "r"),
    # A detached session keeps its acquired lock; the resume reports it.
    "session-detach-resume": open_session(0) + lock(0, "wa") + lock(1, "wa") +
    drop(0) + resume(0) + release(0) + deliver_notice(0) + release(1),
    # An enqueued lock keeps its place while detached, is acquired meanwhile
    # (its notice dropped) and resumed acquired.
    "session-acquired-while-detached": open_session(0) + lock(1, "wa") +
    lock(0, "wa") + drop(0) + release(1) + resume(0) + release(0),
    # A takeover closes the attached transport with 4409 first; what the old
    # one sends or reports afterwards does nothing.
    "session-takeover": open_session(0) + lock(0, "wa") + resume(0) +
    stale_release(0, 0) + stale_lock(0, 0, "wb") + stale_end(0, 0) +
    release(0),
    # The window passes: the lock is released, the one behind it acquired,
    # and the token finds nothing.
    "session-expire": open_session(0) + lock(0, "wa") + lock(1, "wa") +
    drop(0) + fire_window(0) + deliver_notice(0) + resume(0) + release(1),
    # A resume and a new detachment make the first window timer stale.
    "session-stale-window": open_session(0) + lock(0, "wa") + drop(0) +
    resume(0) + drop(0) + fire_timer(0) + resume(0) + release(0),
    # Force-released while detached: the resume reports none, and a new lock
    # may be taken.
    "session-force-detached": open_session(0) + lock(0, "wa") + drop(0) +
    force_release(0) + resume(0) + lock(0, "wb") + release(0),
    # Force-released while attached, crossing a takeover: the notice is
    # passed on, and the new transport is closed with 4000.
    "session-force-takeover": open_session(0) + lock(0, "wa") +
    force_release(0) + resume(0) + deliver_notice(0) + deliver_notice(0),
    # Force-released after a protocol error closed the transport, before it
    # ended: the lock ends silently, and the resume reports none.
    "session-force-after-error": open_session(0) + lock(0, "wa") +
    garbage(0, "x") + force_release(0) + deliver_notice(0) + drop(0) +
    resume(0) + lock(0, "wb") + release(0),
    # Corrupted tokens, attached and detached, find nothing.
    "session-corrupt-token": open_session(0) + lock(0, "wa") +
    corrupt_tokens(0, 7) + drop(0) + corrupt_tokens(0, 200) + resume(0) +
    release(0),
    # The acquisition notice reaches the old transport after a takeover: it
    # is passed on and not announced again.
    "session-stale-notice": open_session(0) + lock(1, "wa") + lock(0, "wa") +
    release(1) + resume(0) + deliver_notice(0) + deliver_notice(0) +
    stale_notice(0, 0) + deliver_notice(0) + release(0),
    # A protocol error closes only the transport: the lock stays, and is
    # acquired silently, and the resume reports it.
    "session-error-keeps-lock": open_session(0) + lock(1, "wa") +
    lock(0, "wa") + garbage(0, "x") + release(1) + deliver_notice(0) +
    drop(0) + resume(0) + release(0),
    # In the grace the held acquisition of a detached session is dropped;
    # the resume after the grace reports it acquired.
    "session-gate-grace": grace(100, 255) + open_session(0) + lock(0, "wa") +
    drop(0) + end_grace() + resume(0) + release(0),
    # Past the window, a lock acquired before is still resumed acquired,
    # through SendGrant, which checks the gate when it writes the frame.
    "session-gate-resume-past-window": grace(100, 255) + open_session(0) +
    to_deadline() + lock(0, "r") + to_deadline() + resume(0) + release(0),
}

# ---- request_parser and http_front_door: one selector byte, then the text.
# request_parser's selector: bits 0-1 message bytes (16, 64, 256, 4096),
# bits 2-3 max resources - 1, bits 4-5 max depth, bits 6-7 max segment bytes.
LOOSE = 0xFF  # 4096 bytes, 4 resources, depth 3, segments of 3 bytes

REQUEST_PARSER = {
    "lock": (0x00, '{"action":"lock","resources":[{"type":"write","path":'
             '["group_x","entity_a"]},{"type":"read","path":["group_y"]}]}'),
    "release": (LOOSE, '{"action":"release"}'),
    "type-spellings": (LOOSE, '{"action":"lock","resources":[{"type":"W",'
                       '"path":["a","b"]},{"type":"r","path":[]},{"type":'
                       '"ReAd","path":["x/y"]},{"type":"write","path":[""]}]}'),
    "escapes": (LOOSE, '{"action":"lock","resources":[{"type":"read","path":'
                '["\\u0000","\\"q\\"","\\u00e9"]}],"id":"7","extra":[1,{}]}'),
    "over-limits": (0x13, '{"action":"lock","resources":[{"type":"r","path":'
                    '["a","b"]},{"type":"w","path":["abcd"]}]}'),
    "empty-resources": (LOOSE, '{"action":"lock","resources":[]}'),
    "unknown-action": (LOOSE, '{"action":"unlock"}'),
    "deep-nesting": (LOOSE, '{"action":"lock","resources":[[[[[[[[[[]]]]]]]]]]}'),
}

# http_front_door's selector: bits 0-2 max namespace bytes, bits 3-4 max
# abandon timeout (0, 1, 1000, 86400000 ms). The text is also read as each
# JSON page the server answers: the page-* seeds are pages.
HTTP_FRONT_DOOR = {
    "lock": (0x1F, "/v1?namespace=a%20b"),
    "lock-abandon": (0x17, "/v1?namespace=n&abandon-timeout-ms=1000"),
    "lock-abandon-over": (0x0F, "/v1?abandon-timeout-ms=86400001&namespace=n"),
    "stats": (0x07, "/stats_v1?namespace=n%2Fm"),
    "release": (0x07, "/locks_v1?namespace=n%2Fm&id=17"),
    "stats-alias": (0x07, "/stats?namespace=users"),
    "status": (0x00, "/"),
    "metrics": (0x00, "/metrics"),
    "healthz": (0x07, "/healthz?verbose=1"),
    "readyz": (0x1F, "/readyz"),
    "bad-abandon": (0x1F, "/v1?namespace=x&abandon-timeout-ms=-1"),
    "no-namespace": (0x1F, "/v1?namespace=&x=y#frag"),
    "not-found": (0x07, "/v2?namespace=n"),
    "malformed": (0x07, "/v1?namespace=a b"),
    "namespace-over": (0x03, "/v1?namespace=abcdefgh"),
    "page-stats": (0x07, '{"LastGroupID":4,"GroupsPending":1,"GroupsAcquired":'
                   '2,"LocksPending":3,"LocksAcquired":5,"PathCount":7,'
                   '"MemoryBytes":1024}'),
    "page-namespaces": (0x07, '{"open":2,"opened":5,"namespaces":[{"name":'
                        '"a\\u00e9","locks_acquired":1,"locks_pending":0}],'
                        '"more":true}'),
    "page-locks": (0x07, '{"namespace":"ns","live":3,"more":false,"locks":['
                   '{"id":"1","state":"acquired","resources":[{"type":'
                   '"write","path":["a","b"]}],"client_name":"job-1","peer":'
                   '"127.0.0.1:1","since_ms":12,"abandoned":true,'
                   '"release_in_ms":59000,"waits_for":[],"waits_for_more":'
                   'false},{"id":"2","state":"enqueued","resources":[{"type":'
                   '"read","path":[]}],"connection":18,"since_ms":9,'
                   '"waits_for":["1"],"waits_for_more":true}]}'),
}


def write(harness, seeds):
    directory = HERE / harness
    directory.mkdir(exist_ok=True)
    for name, data in seeds.items():
        if isinstance(data, tuple):
            selector, text = data
            data = [selector] + list(text.encode())
        (directory / name).write_bytes(bytes(data))


write("engine_vs_model", ENGINE_VS_MODEL)
write("session", SESSION)
write("request_parser", REQUEST_PARSER)
write("http_front_door", HTTP_FRONT_DOOR)
