'use strict';

// Delivery's two consumers of WatchDue: a Worker runs each due job in a
// handler and settles it; a Relay hands each due job back to the
// application's own broker and leaves the settling to whoever consumes it
// there. See index.d.ts.

const { EventEmitter } = require('events');

const args = require('./args');

// index.js requires this module after filling its exports; read them at use.
const retryd = require('../index');

const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 1000;
// A stream refused for a reason other than an unreachable sidecar (delivery
// off, fleet mode): tried again, less often.
const REFUSED_RETRY_MS = 5000;

function asError(thrown) {
  if (thrown instanceof Error) return thrown;
  if (thrown !== null && typeof thrown === 'object') return thrown;
  return new Error(String(thrown));
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * What Worker and Relay share: options, their own client or the caller's,
 * a WatchDue stream kept open (opened again, with backoff, when it breaks or
 * the sidecar restarts), close(), and events that never throw into the loop.
 */
class DueLoop extends EventEmitter {
  constructor(kind, queue, options, defaults) {
    super();
    if (options === null || typeof options !== 'object') throw new TypeError(`options must be an object, got ${args.describe(options)}`);
    this.queue = args.requiredString('queue', queue);
    this.concurrency = args.integerIn(defaults.concurrencyName, options[defaults.concurrencyName], 1, args.MAX_BATCH, defaults.concurrency);
    this.leaseMs = args.leaseMs('leaseMs', options.leaseMs === undefined ? defaults.leaseMs : options.leaseMs);
    if (options.client && options.address) throw new TypeError('give client or address, not both');
    if (options.client) {
      const c = options.client;
      for (const m of ['watchDue', 'reportSuccess', 'reportFailure', 'extendLease', 'releaseJob']) {
        if (typeof c[m] !== 'function') throw new TypeError(`client must be a retryd Client (it has no ${m}())`);
      }
      this.client = c;
      this._ownClient = false;
    } else {
      this.client = new retryd.Client({
        address: args.optionalString('address', options.address) || undefined,
        timeoutMs: options.timeoutMs,
        credentials: options.credentials,
        channelOptions: options.channelOptions,
      });
      this._ownClient = true;
    }
    this.logger = options.logger === undefined ? console : options.logger;
    this._kind = kind;
    this._closing = false;
    this._closed = null;
    this._stream = null;
    this._wake = null;
    this._tasks = new Set();
    this._generation = 0; // of the stream: one more each time it is opened
    this._restarting = false;
    this._loop = null;
  }

  /**
   * Starts the loop (the subclass's constructor, once its own options are
   * checked), on the next tick, so that listeners attached right after the
   * constructor hear everything.
   */
  _begin() {
    this._loop = new Promise((resolve) => setImmediate(resolve)).then(() => this._run());
  }

  /** How many jobs the next stream may hold (its max_in_flight); 0: wait for _wakeUp(). */
  _capacity() {
    return this.concurrency;
  }

  /** Ends the stream at once and opens it again (with _capacity()). */
  _restartStream() {
    this._restarting = true;
    if (this._stream) this._stream.cancel();
    else this._wakeUp();
  }

  _wakeUp() {
    if (this._wake) this._wake();
  }

  _pause(ms) {
    return new Promise((resolve) => {
      const t = ms === Infinity ? null : setTimeout(resolve, ms);
      this._wake = () => {
        if (t) clearTimeout(t);
        resolve();
      };
    }).finally(() => { this._wake = null; });
  }

  /** Emits `event`; a listener that throws is logged, never thrown into the loop. */
  _emit(event, ...rest) {
    try {
      return this.emit(event, ...rest);
    } catch (e) {
      this._log(`a listener of '${event}' threw: ${e && e.stack ? e.stack : e}`);
      return true;
    }
  }

  _log(message) {
    if (this.logger && typeof this.logger.warn === 'function') this.logger.warn(`retryd ${this._kind} (${this.queue}): ${message}`);
  }

  /** 'error' when someone listens (EventEmitter would throw otherwise), else the logger. */
  _problem(err, job) {
    if (this.listenerCount('error') > 0) this._emit('error', err, job);
    else this._log(`${job ? `job ${job.jobId}: ` : ''}${err && err.message ? err.message : err}`);
  }

  _leaseLost(job, err) {
    if (!this._emit('leaseLost', job, err)) this._log(`job ${job.jobId}: ${err.message}; dropped (another claimer has it)`);
  }

  async _run() {
    let backoff = RECONNECT_MIN_MS;
    while (!this._closing) {
      const capacity = this._capacity();
      if (capacity < 1) {
        await this._pause(Infinity); // until a run ends, or close()
        continue;
      }
      const stream = this.client.watchDue(this.queue, { maxInFlight: capacity, leaseMs: this.leaseMs });
      this._stream = stream;
      this._streamCapacity = capacity;
      this._generation += 1;
      this._restarting = false;
      let wait = backoff;
      try {
        for await (const job of stream) {
          backoff = RECONNECT_MIN_MS;
          this._accept(job);
        }
      } catch (err) {
        if (this._closing) break;
        if (!(err instanceof retryd.Unavailable)) wait = REFUSED_RETRY_MS;
        this._problem(err);
      }
      this._stream = null;
      if (this._closing) break;
      if (this._restarting) continue;
      // The sidecar ended the stream (it is stopping) or it broke: open it
      // again, soon.
      await this._pause(wait);
      backoff = Math.min(backoff * 2, RECONNECT_MAX_MS);
    }
  }

  /** Runs `fn` as a task close() waits for. */
  _track(promise) {
    const p = Promise.resolve(promise).catch((e) => this._problem(e)).finally(() => this._tasks.delete(p));
    this._tasks.add(p);
    return p;
  }

  /**
   * Stops claiming (jobs the stream received and did not hand over are
   * released, due again at once) and waits for what runs to finish and be
   * settled. The same promise on every call.
   */
  close() {
    if (!this._closed) {
      this._closing = true;
      this._wakeUp();
      const stopped = this._stream ? this._stream.cancel() : Promise.resolve();
      this._closed = (async () => {
        await stopped;
        await this._loop;
        while (this._tasks.size) await Promise.all([...this._tasks]);
        if (this._ownClient) this.client.close();
        this._emit('closed');
      })();
    }
    return this._closed;
  }
}

/**
 * Runs each due job of `queue` in `handler(job)`, at most `concurrency` at
 * once, and settles it: success -> reportSuccess with the lease; a throw ->
 * reportFailure with the error, the job's attempt, its type and the lease
 * (retryd parks it again or gives up). The lease is extended while a handler
 * runs past a third of it.
 */
class Worker extends DueLoop {
  constructor(queue, handler, options = {}) {
    super('worker', queue, options, { concurrencyName: 'concurrency', concurrency: 1, leaseMs: 30000 });
    this.handler = args.fn('handler', handler);
    this.target = args.optionalString('target', options.target) || undefined;
    this.policy = args.optionalString('policy', options.policy) || undefined;
    this._running = 0;
    this._begin();
  }

  // The stream may hand out as many jobs as there are free slots. In the
  // steady state that is `concurrency` and settles free the stream's slots.
  // A run that outlives its stream (the stream broke, or the run's lease ran
  // out under it, which frees its slot on retryd's side) is not counted by
  // the stream it holds a slot of here: the stream is then opened again with
  // the slots that are free.
  _capacity() {
    return this.concurrency - this._running;
  }

  _accept(job) {
    if (this._running >= this.concurrency) {
      // More than the slots: handed back at once for another worker, and the
      // stream opened again with the free slots.
      this._restartStream();
      // As DueStream.cancel does: after the stream is gone, due a moment later.
      this._track(sleep(10).then(() => this.client.releaseJob(job.jobId, job.leaseId, { delayMs: 200 })).catch(() => {}));
      return;
    }
    const ac = new AbortController();
    const entry = {
      job,
      generation: this._generation,
      lost: false,
      leaseUntil: job.leaseUntil ? job.leaseUntil.getTime() : Date.now() + this.leaseMs,
      keeper: null,
      abort: ac,
    };
    job.signal = ac.signal;
    this._running += 1;
    this._keep(entry);
    this._track(this._process(entry)).finally(() => {
      this._running -= 1;
      if (this._closing) return;
      if (!this._stream) this._wakeUp(); // it waits for a free slot
      else if (entry.generation !== this._generation && this._capacity() > this._streamCapacity) this._restartStream();
    });
  }

  /** Extends the lease every third of it until the job is settled or lost. */
  _keep(entry) {
    const every = Math.max(1, Math.floor(this.leaseMs / 3));
    let busy = false;
    entry.keeper = setInterval(async () => {
      if (busy || entry.lost) return;
      busy = true;
      try {
        const until = await this.client.extendLease(entry.job.jobId, entry.job.leaseId, { leaseMs: this.leaseMs });
        if (until) {
          entry.leaseUntil = until.getTime();
          entry.job.leaseUntil = until;
        }
      } catch (err) {
        if (err instanceof retryd.LeaseLost) {
          this._lose(entry, err);
        } else {
          // Tried again at the next tick; the lease stays good until the job
          // is handed out again.
          this._problem(err, entry.job);
        }
      } finally {
        busy = false;
      }
    }, every);
  }

  _stopKeeping(entry) {
    if (entry.keeper) clearInterval(entry.keeper);
    entry.keeper = null;
  }

  _lose(entry, err) {
    if (entry.lost) return;
    entry.lost = true;
    this._stopKeeping(entry);
    entry.abort.abort(err);
    this._leaseLost(entry.job, err);
  }

  async _process(entry) {
    const { job } = entry;
    let result;
    let error = null;
    try {
      result = await this.handler(job);
    } catch (thrown) {
      error = asError(thrown);
    }
    this._stopKeeping(entry);
    if (entry.lost) return;
    // Settle; a sidecar that does not answer is asked again until the lease
    // would have run out (after a restart it may well answer).
    let backoff = RECONNECT_MIN_MS;
    for (;;) {
      try {
        if (error) {
          const d = await this.client.reportFailure(job.jobId, error, {
            jobType: job.jobType, attempt: job.attempt, leaseId: job.leaseId, target: this.target, policy: this.policy,
          });
          this._emit('failed', job, error, d);
        } else {
          await this.client.reportSuccess(job.jobId, { jobType: job.jobType, leaseId: job.leaseId, target: this.target });
          this._emit('completed', job, result);
        }
        return;
      } catch (err) {
        if (err instanceof retryd.LeaseLost) {
          this._lose(entry, err);
          return;
        }
        if (err instanceof retryd.Unavailable && Date.now() + backoff < entry.leaseUntil) {
          await sleep(backoff);
          backoff = Math.min(backoff * 2, RECONNECT_MAX_MS);
          continue;
        }
        this._problem(err, job);
        return;
      }
    }
  }
}

/**
 * Hands each due job of `queue` back to the application's broker:
 * `publish(job)` must resolve once the broker confirmed the message, and
 * carry the lease with it (retryd/amqplib's confirmPublisher puts it in the
 * headers). A publish that fails releases the job, due again after
 * `releaseDelayMs`. Nothing else is sent: the consumer settles the job.
 */
class Relay extends DueLoop {
  constructor(queue, publish, options = {}) {
    super('relay', queue, options, { concurrencyName: 'maxInFlight', concurrency: 100, leaseMs: 5 * 60 * 1000 });
    this.publish = args.fn('publish', publish);
    this.releaseDelayMs = args.delayMs('releaseDelayMs', options.releaseDelayMs === undefined ? 1000 : options.releaseDelayMs);
    this._begin();
  }

  _accept(job) {
    this._track(this._relay(job));
  }

  async _relay(job) {
    try {
      await this.publish(job);
    } catch (thrown) {
      const err = asError(thrown);
      this._emit('publishFailed', job, err);
      try {
        await this.client.releaseJob(job.jobId, job.leaseId, { delayMs: this.releaseDelayMs });
      } catch (e) {
        if (e instanceof retryd.LeaseLost) this._leaseLost(job, e);
        else this._problem(e, job); // its lease runs out instead
      }
      if (this.listenerCount('publishFailed') === 0) this._log(`job ${job.jobId}: publish failed, released: ${err.message}`);
      return;
    }
    this._emit('published', job);
  }
}

function relay(queue, publish, options) {
  return new Relay(queue, publish, options);
}

module.exports = { Relay, Worker, relay };
