/*
 * The replication protocol of one HA group: an active streams its log of
 * lock changes to standbys, answers a client only once every standby it must
 * wait for has acknowledged the change, and etcd decides who is active and
 * which servers are in sync. SPIN checks it exhaustively at small bounds
 * (model/check.sh).
 *
 * What is modelled, and how:
 *   etcd       globals changed atomically (linearizable): each server's
 *              candidacy (its create revision; the leader is the live one
 *              with the smallest revision) and the group record: epoch,
 *              version, in_sync.
 *   a change   "client c acquires resource r" or "c releases r"; a server's
 *              state is its log applied in order (who holds each resource).
 *   a server   a process with the steps it may take; each d_step is one
 *              atomic step of the protocol. Crashes and lease losses are
 *              steps too.
 *   clients    what each client was told of each resource. A client's
 *              request (or release) reaching an active is the active's step
 *              that logs it; it may reach several actives, old and new.
 *   time       the only timed rule, the degraded takeover's grace, is one
 *              step: when it ends, every older active's grant window has run
 *              out and every lock an older epoch granted has been abandoned.
 *
 * The replication channel may lose, duplicate and reorder messages across
 * reconnects. Every message carries its epoch and log position; a standby
 * applies position p only after p-1 and drops anything else, and acks are
 * cumulative. So whatever the channel does, the only state changes it can
 * cause are "the standby applies the next position and acks it" (catch-up
 * from its acked position, after a loss or a reconnect) and "the standby
 * takes a snapshot" (join). A message of an active that crashed since
 * arrives as if before the crash: nothing the standby does depends on the
 * sender being alive.
 *
 * Invariants, checked in every state by the Monitor process and at each
 * record write:
 *   1. mutual exclusion: no resource is held by two clients as far as
 *      they were told;
 *   2. every change a client saw is in the state of every server of the
 *      record's in_sync set (short of locks an older, degraded lineage
 *      granted: those are covered by the grace);
 *   3. an in-sync takeover holds every lock its clients were told they hold
 *      and none they were told released (asserted at the takeover);
 *   4. the record's (epoch, version) never goes back.
 *
 * Bounds (spin -D...): NS servers (2 or 3), FAULTS crashes or lease losses
 * in all, LOGMAX changes in one server's log, VERMAX configuration changes
 * within one epoch, KMAX requests of each client for each resource. Two
 * clients and two exclusive resources.
 */

#ifndef NS
#define NS 3
#endif
#ifndef FAULTS
#define FAULTS 2
#endif
#ifndef LOGMAX
#define LOGMAX 3
#endif
#ifndef VERMAX
#define VERMAX 2
#endif
#ifndef KMAX
#define KMAX 2
#endif
#define NC 2
#define NR 2

/* ---- etcd: the configuration master ---- */
byte ctr;             /* the last revision handed out */
byte rev[NS];         /* create revision of each server's candidacy: it
                         names the server's incarnation and, once it is
                         active, its epoch */
bool live[NS];        /* the candidacy key still exists (no crash, no lease
                         expiry) */
byte rec_ep;          /* record: the epoch of the active that wrote it */
byte rec_ver;         /* record: configuration version within the epoch */
byte rec_in[NS];      /* record: in_sync, the incarnation (revision) of
                         each member, 0 for none. A restarted server is a
                         new incarnation and so not in sync. */

#define BEATS(s, t) (!live[t] || rev[t] >= rev[s])
#define LEADER(s) \
  (live[s] && BEATS(s, 0) && BEATS(s, 1) && (NS < 3 || BEATS(s, 2)))

/* ---- servers ---- */
#define DOWN 0        /* crashed or fenced: nothing volatile survives */
#define STANDBY 1
#define ACTIVE 2
#define GRACE 3       /* active after a degraded takeover, in its grace */
#define SERVING(s) (role[s] == ACTIVE || role[s] == GRACE)
#define BIT(t) (1 << (t))

byte role[NS];
byte size[NS];           /* log length */
byte log[NS * LOGMAX];   /* the log: entries below */
byte own[NS * NR];       /* its state: for each resource, the acquire entry
                            of the lock that holds it, 0 if free */
byte lastp[NS * NR];     /* position of the last change of each resource */
byte follows[NS];        /* standby: epoch whose stream it applies and acks,
                            0 for none */
/* an active's view of replication */
byte R[NS];              /* required ackers (bit per server) */
byte ack[NS * NS];       /* ack[s*NS+t]: t's acked position, as s knows it */
byte view[NS * NS];      /* view[s*NS+t]: the in_sync s last wrote, by
                            incarnation, 0 for none */

/* A log entry: operation, client, resource and request number k (the
   k-th request of client c for resource r: its lock ID, in effect). */
#define ACQ 1
#define REL 2
#define ENTRY(op, c, r, k) (((op) << 6) | ((k) << 4) | ((c) << 2) | (r))
#define OP(e) ((e) >> 6)
#define CL(e) (((e) >> 2) & 3)
#define RS(e) ((e) & 3)
#define LOCK(c, r) ENTRY(ACQ, c, r, nreq[CR(c, r)]) /* c's current lock */
#define HAS_LOCK_OF(t, r, c) \
  (own[(t) * NR + (r)] != 0 && CL(own[(t) * NR + (r)]) == (c))

/* ---- clients: what each client was told of each resource ---- */
#define FREE 0    /* told it was released (or never asked) */
#define REQ 1     /* asked for it, no answer yet */
#define HELD 2    /* told it holds it */
#define RELQ 3    /* asked to release it, no answer yet: no longer uses it */
#define GONE 4    /* abandoned: a degraded takeover's grace ran out */
#define CR(c, r) ((c) * NR + (r))
#define HOLDS(c, r) (cst[CR(c, r)] == HELD)

byte cst[NC * NR];
byte nreq[NC * NR];  /* requests so far, at most KMAX */
bool old[NC * NR];   /* told by an epoch older than the last degraded
                        takeover: the grace, not the replica, covers it */
byte base;           /* epoch of the last degraded takeover */
byte faults;         /* crashes and lease losses so far */

hidden byte i, j, p, e; /* scratch, inside d_steps only */

/* ---- the engine: apply a change to a server's state ---- */
/* (An inline's arguments are substituted as text: the entry is copied to
   e first, since its expression may read size[s].) */
inline append(s, entry) {
  e = entry;
  log[s * LOGMAX + size[s]] = e;
  size[s]++;
  lastp[s * NR + RS(e)] = size[s];
  if
  :: OP(e) == ACQ -> own[s * NR + RS(e)] = e
  :: else -> own[s * NR + RS(e)] = 0
  fi
}

inline clear_state(s) {
  for (i : 0 .. LOGMAX - 1) { log[s * LOGMAX + i] = 0 }
  for (i : 0 .. NR - 1) { own[s * NR + i] = 0; lastp[s * NR + i] = 0 }
  size[s] = 0
}

/* Crash or fence: the process stops and its volatile state is gone. */
inline stop(s) {
  clear_state(s);
  for (i : 0 .. NS - 1) { ack[s * NS + i] = 0; view[s * NS + i] = 0 }
  follows[s] = 0;
  R[s] = 0;
  role[s] = DOWN
}

/* Invariant 4: every record write moves (epoch, version) forward. */
inline write_record(ep, ver) {
  assert(ep > rec_ep || (ep == rec_ep && ver > rec_ver));
  rec_ep = ep;
  rec_ver = ver
}

/* Invariants 2 and 3 for server t: its state has every lock a client was
   told it holds and none a client was told it released. */
inline holds_what_clients_saw(t) {
  for (i : 0 .. NC - 1) {
    for (j : 0 .. NR - 1) {
      if
      :: old[CR(i, j)] -> skip
      :: else ->
         assert(cst[CR(i, j)] != HELD || own[t * NR + j] == LOCK(i, j));
         assert(cst[CR(i, j)] != FREE || !HAS_LOCK_OF(t, j, i))
      fi
    }
  }
}

/* Every required acker has acknowledged position q. */
#define ACKED(s, q) \
  ((!(R[s] & 1) || ack[s * NS + 0] >= (q)) && \
   (!(R[s] & 2) || ack[s * NS + 1] >= (q)) && \
   (NS < 3 || !(R[s] & 4) || ack[s * NS + 2] >= (q)))

/* ---- an active's steps for a client c and resource r ---- */

/* A request reaches the active, a new one or one sent again after a
   failover: it grants it by appending the change. Not during a grace. (A
   request waiting behind a held lock is one not sent yet.) */
inline log_acquire(s, c, r) {
  d_step {
    role[s] == ACTIVE && size[s] < LOGMAX && own[s * NR + r] == 0 &&
    (cst[CR(c, r)] == REQ ||
     ((cst[CR(c, r)] == FREE || cst[CR(c, r)] == GONE) &&
      nreq[CR(c, r)] < KMAX)) ->
    if
    :: cst[CR(c, r)] != REQ ->
       nreq[CR(c, r)]++;
       cst[CR(c, r)] = REQ;
       old[CR(c, r)] = 0
    :: else -> skip
    fi;
    append(s, LOCK(c, r))
  }
}

/* The client gives its lock back (or sends that again after a failover)
   to an active that has it. */
inline log_release(s, c, r) {
  d_step {
    SERVING(s) && size[s] < LOGMAX && own[s * NR + r] == LOCK(c, r) &&
    (cst[CR(c, r)] == HELD || cst[CR(c, r)] == RELQ) ->
    cst[CR(c, r)] = RELQ;
    append(s, ENTRY(REL, c, r, nreq[CR(c, r)]))
  }
}

/* Tell the client: only once every member of R has acked the change. */
inline answer_acquire(s, c, r) {
  d_step {
    SERVING(s) && cst[CR(c, r)] == REQ && own[s * NR + r] == LOCK(c, r) &&
    ACKED(s, lastp[s * NR + r]) ->
    cst[CR(c, r)] = HELD;
    old[CR(c, r)] = (rev[s] < base)
  }
}

inline answer_release(s, c, r) {
  d_step {
    SERVING(s) && cst[CR(c, r)] == RELQ && lastp[s * NR + r] > 0 &&
    log[s * LOGMAX + lastp[s * NR + r] - 1] ==
        ENTRY(REL, c, r, nreq[CR(c, r)]) &&
    ACKED(s, lastp[s * NR + r]) ->
    cst[CR(c, r)] = FREE;
    old[CR(c, r)] = (rev[s] < base)
  }
}

/* ---- an active's steps for a peer t ---- */

/* t joins s's stream: a snapshot of s's log, acked at once; s adds t to R
   from that point. A standby joins the active that etcd's election names,
   the leader: joining a deposed active could revive its acks (a restarted
   standby is a new incarnation that has not stopped acking it). */
inline join(s, t) {
  d_step {
    t != s && SERVING(s) && LEADER(s) && role[t] == STANDBY &&
    (follows[t] != rev[s] || !(R[s] & BIT(t))) ->
    clear_state(t);
    for (i : 0 .. size[s] - 1) { append(t, log[s * LOGMAX + i]) }
    follows[t] = rev[s];
    R[s] = R[s] | BIT(t);
    ack[s * NS + t] = size[s]
  }
}

/* Catch-up: t receives the next position it has not acked on the stream
   it follows and acks it; a standby applies it first. (Only a standby
   follows a stream: an elected server stops at once.) */
inline deliver(s, t) {
  d_step {
    t != s && SERVING(s) && (R[s] & BIT(t)) && follows[t] == rev[s] &&
    ack[s * NS + t] < size[s] ->
    if
    :: role[t] == STANDBY ->
       assert(size[t] == ack[s * NS + t]);
       append(t, log[s * LOGMAX + size[t]])
    :: else -> skip
    fi;
    ack[s * NS + t]++
  }
}

/* Add a member to in_sync: t is in R and follows s (so it has everything
   from its join on); a guarded write. Not during a grace: a later in-sync
   takeover by t would not know that the grace is still running. */
inline add_in_sync(s, t) {
  d_step {
    t != s && role[s] == ACTIVE && (R[s] & BIT(t)) && follows[t] == rev[s] &&
    view[s * NS + t] != rev[t] && (!live[s] || rec_ver < VERMAX) ->
    if
    :: live[s] ->
       write_record(rev[s], rec_ver + 1);
       rec_in[t] = rev[t];
       view[s * NS + t] = rev[t]
    :: else -> stop(s)   /* the guard failed: no longer the leader */
    fi
  }
}

/* Remove a member that misses acks: the guarded write comes first... */
inline remove_in_sync(s, t) {
  d_step {
    t != s && SERVING(s) && view[s * NS + t] != 0 &&
    ack[s * NS + t] < size[s] && (!live[s] || rec_ver < VERMAX) ->
    if
    :: live[s] ->
       write_record(rev[s], rec_ver + 1);
       rec_in[t] = 0;
       view[s * NS + t] = 0
    :: else -> stop(s)
    fi
  }
}

/* ...and only then is it dropped from R. */
inline drop_acker(s, t) {
  d_step {
    t != s && SERVING(s) && (R[s] & BIT(t)) && view[s * NS + t] == 0 ->
    R[s] = R[s] & ~BIT(t);
    ack[s * NS + t] = 0
  }
}

#define FOR_CLIENTS(step, s) \
  :: step(s, 0, 0) :: step(s, 0, 1) :: step(s, 1, 0) :: step(s, 1, 1)
#define FOR_PEERS(step, s) \
  :: step(s, (s + 1) % NS) :: step(s, (s + 2) % NS)

proctype Server(byte s) {
end:
  do
  /* A crash: the candidacy's lease expires, the state is lost. */
  :: d_step {
       role[s] != DOWN && faults < FAULTS ->
       faults++;
       live[s] = 0;
       stop(s)
     }
  /* An active loses its lease but runs on, not knowing it. */
  :: d_step {
       SERVING(s) && live[s] && faults < FAULTS ->
       faults++;
       live[s] = 0
     }
  /* A server that finds its lease gone fences itself. */
  :: d_step { role[s] != DOWN && !live[s] -> stop(s) }
  /* Restart: a fresh standby with a new candidacy and an empty state. */
  :: d_step {
       role[s] == DOWN ->
       ctr++;
       rev[s] = ctr;
       live[s] = 1;
       role[s] = STANDBY
     }
  /* Elected: stop acking at once, read the record and take over. No one
     else can write the record in between: the writes are guarded and this
     server is the leader. */
  :: d_step {
       role[s] == STANDBY && LEADER(s) ->
       follows[s] = 0;
       if
       :: rec_in[s] == rev[s] ->
          /* In sync: its replica, no grace. Invariant 3. */
          holds_what_clients_saw(s);
          role[s] = ACTIVE
       :: else ->
          /* Degraded: an empty state and a grace. Every lock a client
             was told it holds until now is covered by the grace. */
          clear_state(s);
          role[s] = GRACE;
          base = rev[s];
          for (i : 0 .. NC * NR - 1) {
            old[i] = (cst[i] == HELD || cst[i] == RELQ)
          }
       fi;
       write_record(rev[s], 0);
       for (i : 0 .. NS - 1) { rec_in[i] = 0; view[s * NS + i] = 0 }
       rec_in[s] = rev[s];
       view[s * NS + s] = rev[s];
       for (i : 0 .. NS - 1) { ack[s * NS + i] = 0 }
       R[s] = 0
     }
  /* The grace ends: every older active's grant window has run out (it
     stops), and every lock an older epoch granted has been released or
     abandoned. */
  :: d_step {
       role[s] == GRACE ->
       for (j : 0 .. NS - 1) {
         if
         :: SERVING(j) && rev[j] < rev[s] -> stop(j)
         :: else -> skip
         fi
       }
       for (j : 0 .. NC * NR - 1) {
         if
         :: old[j] && (cst[j] == HELD || cst[j] == RELQ) ->
            cst[j] = GONE;
            old[j] = 0
         :: else -> skip
         fi
       }
       role[s] = ACTIVE
     }
  FOR_CLIENTS(log_acquire, s)
  FOR_CLIENTS(log_release, s)
  FOR_CLIENTS(answer_acquire, s)
  FOR_CLIENTS(answer_release, s)
  FOR_PEERS(join, s)
  FOR_PEERS(deliver, s)
  FOR_PEERS(add_in_sync, s)
  FOR_PEERS(remove_in_sync, s)
  FOR_PEERS(drop_acker, s)
  od
}

/* Invariants 1 and 2, in every state. */
active proctype Monitor() {
end:
  do
  :: d_step {
       for (j : 0 .. NR - 1) { assert(!(HOLDS(0, j) && HOLDS(1, j))) }
       for (p : 0 .. NS - 1) {
         if
         :: role[p] != DOWN && rec_in[p] == rev[p] ->
            holds_what_clients_saw(p)
         :: else -> skip
         fi
       }
     }
  od
}

/* The group starts with S0 active at epoch 1 and every other server a
   standby in sync with it: the state right after the joins. */
init {
  atomic {
    for (i : 0 .. NS - 1) {
      rev[i] = i + 1;
      live[i] = 1;
      rec_in[i] = i + 1;
      view[i] = i + 1;
      if
      :: i == 0 -> role[i] = ACTIVE
      :: else ->
         role[i] = STANDBY;
         follows[i] = 1;
         R[0] = R[0] | BIT(i)
      fi
    }
    ctr = NS;
    rec_ep = 1;
    for (i : 0 .. NS - 1) { run Server(i) }
  }
}
