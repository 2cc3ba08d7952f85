"""64 (or N) reviewers claiming and submitting over HTTP at once, for a number of seconds.
   reviewers.py URL[,URL...] TOKENS_FILE SECONDS
Several URLs (instances sharing one database): reviewer i works on URL i mod their number.
Each reviewer has its own token (one per line of TOKENS_FILE) and keep-alive connection, and loops
GET /v1/review/next -> POST /v1/review/tasks/{id}/outcome (approve). Prints pairs/s, the claim
latency p50/p99, errors, and double claims: a task handed to one reviewer twice, or to more
reviewers than its reviews_required (must be 0; every claimed task is answered, so such a claim
would be a broken exactly-once). A task that needs two answers (the example's audit samples,
reviewers_needed = 2, reached once the queue drains) goes to two reviewers by design: its
reviews_required is read from GET /v1/review/tasks after the run, and those second claims are
counted apart (consensus_second_claims)."""
import http.client, json, sys, threading, time, urllib.parse

urls, tokens_file, seconds = sys.argv[1].split(","), sys.argv[2], float(sys.argv[3])
tokens = [t.strip() for t in open(tokens_file) if t.strip()]
lock = threading.Lock()
claimed, lat, errors, empty = {}, [], [], [0]

start = threading.Event()
deadline = [0.0]


def reviewer(token, url):
    u = urllib.parse.urlparse(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    h = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    mine = []
    start.wait()
    while time.monotonic() < deadline[0]:
        t0 = time.perf_counter()
        c.request("GET", "/v1/review/next?domain=credit_risk", headers=h)
        r = c.getresponse(); body = r.read()
        mine.append((time.perf_counter() - t0) * 1000)
        if r.status == 204:
            empty[0] += 1; time.sleep(0.01); continue
        if r.status != 200:
            errors.append(f"claim {r.status} {body[:120]!r}"); continue
        tid = json.loads(body)["task_id"]
        with lock:
            claimed.setdefault(tid, []).append(token)
        c.request("POST", f"/v1/review/tasks/{tid}/outcome", body='{"outcome":"approve"}', headers=h)
        r = c.getresponse(); body = r.read()
        if r.status != 200: errors.append(f"outcome {r.status} {body[:120]!r}")
    with lock: lat.extend(mine)


threads = [threading.Thread(target=reviewer, args=(t, urls[i % len(urls)])) for i, t in enumerate(tokens)]
for t in threads: t.start()
time.sleep(0.2)
t0 = time.monotonic(); deadline[0] = t0 + seconds; start.set()
for t in threads: t.join()
elapsed = time.monotonic() - t0


def reviews_required(tid):  # the task's reviews_required, from the task listing (cursor: ids above)
    u = urllib.parse.urlparse(urls[0])
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    c.request("GET", f"/v1/review/tasks?domain=credit_risk&cursor={tid - 1}&limit=1",
              headers={"Authorization": "Bearer " + tokens[0]})
    tasks = json.loads(c.getresponse().read())["tasks"]
    return tasks[0]["reviews_required"] if tasks and tasks[0]["task_id"] == tid else 1


double = consensus = 0
for tid, holders in claimed.items():
    if len(holders) < 2: continue
    allowed = reviews_required(tid)
    double += sum(1 for i, h in enumerate(holders) if h in holders[:i] or i >= allowed)
    consensus += min(len(set(holders)), allowed) - 1
lat.sort()
pct = lambda q: lat[min(len(lat) - 1, int(len(lat) * q))] if lat else 0
pairs = sum(len(h) for h in claimed.values()) - len([e for e in errors if e.startswith("outcome")])
print(f"reviewers={len(tokens)} pairs_s={pairs / elapsed:.0f} claim_p50_ms={pct(0.5):.2f} claim_p99_ms={pct(0.99):.2f} "
      f"pairs={pairs} double_claims={double} consensus_second_claims={consensus} errors={len(errors)} empty={empty[0]}")
for e in errors[:5]: print("  error:", e, file=sys.stderr)
