// ezlang's agent inside a discord.js shard: loaded with `node --require` before the bot file,
// so the bot itself is unchanged (ezlang.sharding.jsshard starts it).
//
// What it does, before the bot's first line runs:
//  * reads its configuration (the token included) from a pipe the manager wrote and closed, so
//    the token is never in the process's argv or its initial environment; it sets
//    process.env.DISCORD_TOKEN in this process only, which is where discord.js's Client and
//    ShardingManager-style bots look for it;
//  * with the manager's `api` option, points discord.js's REST (and so the gateway URL it asks
//    for) at that API;
//  * puts an identify throttler in front of @discordjs/ws: every IDENTIFY waits for the
//    manager's identify queue, and the shard reports when the IDENTIFY has left;
//  * answers the manager's requests (eval, fetch, stats, shutdown) and sends heartbeats, over
//    the Node IPC channel discord.js's own ShardClientUtil uses, in ezlang's message shape
//    ({k: "q"|"r"|"e", ...}); discord.js's own messages (_ready, _sEval, ...) pass untouched;
//  * exits when the manager goes away, even if the bot's event loop is blocked (a watchdog
//    thread).
'use strict';

const { isMainThread, Worker } = require('node:worker_threads');

// Worker threads inherit --require: the agent belongs to the main thread only.
if (!isMainThread) return;

const fs = require('node:fs');
const path = require('node:path');
const { createRequire } = require('node:module');

const EXIT_FATAL = 78; // ezlang.sharding.agent.EXIT_FATAL: never restart this shard

function readConfig() {
  const fd = Number(process.env.EZLANG_JS_CONFIG_FD);
  delete process.env.EZLANG_JS_CONFIG_FD;
  const text = fs.readFileSync(fd, 'utf8');
  fs.closeSync(fd);
  return JSON.parse(text);
}

const config = readConfig();
process.env.DISCORD_TOKEN = config.token;

// --- the IPC link ---------------------------------------------------------------------------

let nextId = 1;
const pending = new Map(); // request id -> {resolve, reject}

function send(message) {
  // A callback, so a closed channel is an ignored error instead of an 'error' event.
  if (process.connected) process.send(message, () => {});
}

// The bot's own client.shard.broadcastEval(fn, {context}) sends discord.js's `_sEval` (the
// function's text with the context pasted in as JSON) straight through process.send: one over
// max_eval_bytes is answered here, as the manager answers a failed call (discord.js rejects
// the bot's promise with it), instead of reaching the manager as a line it must refuse.
const processSend = process.send.bind(process);
process.send = function ezlangSend(message, ...rest) {
  if (message && typeof message === 'object' && typeof message._sEval === 'string') {
    const size = jsonSize(message);
    if (size > config.max_eval_bytes) {
      const fix = 'pass less context (ids, not whole objects) or raise max_eval_bytes';
      const answer = { _sEval: message._sEval, _error: { name: 'ValueError', message: tooLarge('the broadcastEval request', size, fix) } };
      if ('_sEvalShard' in message) answer._sEvalShard = message._sEvalShard;
      setImmediate(() => process.emit('message', answer));
      const callback = rest.find((arg) => typeof arg === 'function');
      if (callback) setImmediate(callback, null);
      return true;
    }
  }
  return processSend(message, ...rest);
};

function event(op, data) {
  send({ k: 'e', op, d: data ?? null });
}

function request(op, data) {
  return new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject });
    send({ k: 'q', i: id, op, d: data ?? null });
  });
}

function mib(size) {
  return size < 1024 * 1024 ? `${(size / 1024).toFixed(1)} KiB` : `${(size / (1024 * 1024)).toFixed(1)} MiB`;
}

/** The error for a payload over the manager's max_eval_bytes (the words of ezlang.sharding.ipc). */
function tooLarge(what, size, fix) {
  const limit = config.max_eval_bytes;
  const amount = Number.isFinite(size) ? `${mib(size)} (${size} bytes of JSON)` : 'over 512 MiB of JSON';
  return (
    `${what} is ${amount}, more than the limit of ${mib(limit)} (${limit} bytes, the shard ` +
    `manager option max_eval_bytes); ${fix}`
  );
}

/** The size of `value` as JSON, in bytes (Infinity: longer than V8 can make a string). */
function jsonSize(value) {
  try {
    return Buffer.byteLength(JSON.stringify(value) ?? 'null');
  } catch (error) {
    if (error instanceof RangeError) return Infinity;
    throw error;
  }
}

function reply(id, value) {
  // Measured before sending: a line over the limit would make the manager close the channel
  // (and this shard exit), so such a result is answered with the ValueError instead.
  const size = jsonSize(value);
  if (size > config.max_eval_bytes) {
    const fix = 'return less (counts or ids rather than whole objects) or raise max_eval_bytes';
    replyError(id, 'ValueError', tooLarge('the result', size, fix));
    return;
  }
  send({ k: 'r', i: id, ok: true, d: value });
}

function replyError(id, kind, message) {
  send({ k: 'r', i: id, ok: false, e: { kind, message } });
}

/** Send the last words and exit once they are written. */
function exitWith(code, reason) {
  const bye = () => process.exit(code);
  if (reason && process.connected) {
    process.send({ k: 'e', op: 'exit_reason', d: reason }, bye);
    setTimeout(bye, 1000).unref();
  } else {
    bye();
  }
}

// --- the bot's discord.js, and the client -------------------------------------------------

const botRequire = createRequire(path.resolve(config.bot_file));
const discord = botRequire('discord.js');
const djsRequire = createRequire(botRequire.resolve('discord.js'));
const ws = djsRequire('@discordjs/ws');
const rest = djsRequire('@discordjs/rest');

let client = null; // the bot's Client, known from its login on
let exiting = false;

function monotonicSeconds() {
  // CLOCK_MONOTONIC, the clock of Python's time.monotonic() in the manager.
  return Number(process.hrtime.bigint()) / 1e9;
}

if (config.api) {
  // "http://host/api/v10" -> api "http://host/api", version "10" (how @discordjs/rest splits it).
  const match = /^(.*)\/v(\d+)$/.exec(config.api);
  const api = match ? match[1] : config.api;
  const version = match ? match[2] : undefined;
  const resolveRequest = rest.REST.prototype.resolveRequest;
  rest.REST.prototype.resolveRequest = function ezlangResolveRequest(request) {
    this.options.api = api;
    if (version) this.options.version = version;
    return resolveRequest.call(this, request);
  };
}

const throttler = {
  // @discordjs/ws's IIdentifyThrottler: resolve when this shard may IDENTIFY now.
  async waitForIdentify(shardId, signal) {
    if (signal?.aborted) throw signal.reason;
    const granted = request('identify', { initial: !identifiedOnce, shard_id: shardId });
    if (!signal) return granted;
    await new Promise((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      granted.then(
        () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
        reject,
      );
    });
  },
};
let identifiedOnce = false;

const shardSend = ws.WebSocketShard.prototype.send;
ws.WebSocketShard.prototype.send = async function ezlangSend(payload) {
  const result = await shardSend.call(this, payload);
  if (payload?.op === 2) {
    identifiedOnce = true;
    event('identify_sent', { at: monotonicSeconds() });
  }
  return result;
};

const FATAL = new Set(config.fatal_close_codes);
const hooked = new WeakSet();

// What the shard counts about itself for the manager's metrics (the fields and meaning of
// ezlang.discord.counters): gateway dispatches by type, resumes, REST responses and 429s.
const counters = { events: {}, resumes: 0, rest_requests: 0, rest_429s: 0 };

function watchGateway(wsManager) {
  if (!wsManager || hooked.has(wsManager)) return;
  hooked.add(wsManager);
  wsManager.on('closed', ({ code }) => {
    if (FATAL.has(code)) stopFatal({ close_code: code, error: null, fatal: true });
  });
  wsManager.on('dispatch', ({ data }) => {
    counters.events[data.t] = (counters.events[data.t] ?? 0) + 1;
  });
  wsManager.on('resumed', () => {
    counters.resumes += 1;
  });
}

function watchRest(restManager) {
  if (!restManager || hooked.has(restManager)) return;
  hooked.add(restManager);
  restManager.on('response', (request, response) => {
    counters.rest_requests += 1;
    if (response.status === 429) counters.rest_429s += 1;
  });
}

const connect = discord.WebSocketManager.prototype.connect;
discord.WebSocketManager.prototype.connect = function ezlangConnect() {
  client = this.client;
  this.client.options.ws.buildIdentifyThrottler = () => throttler;
  watchRest(this.client.rest);
  const connecting = connect.call(this);
  watchGateway(this._ws); // made synchronously at the start of connect()
  return connecting.catch((error) => {
    if (error?.code === 'TokenInvalid') {
      // Discord refused the token (401): never retried. login() is left pending, so that a
      // bot without a .catch() does not crash before the manager has been told why.
      stopFatal({ close_code: null, error: config.login_rejected, fatal: true });
      return new Promise(() => {});
    }
    throw error;
  });
};

async function stopFatal(reason) {
  if (exiting) return;
  exiting = true;
  try {
    await client?.destroy();
  } finally {
    exitWith(EXIT_FATAL, reason);
  }
}

// --- answers to the manager -----------------------------------------------------------------

const AsyncFunction = (async () => {}).constructor;
const compiled = new Map();

/** `code` as a function of `client` and `context`: an expression (`client.guilds.cache.size`,
 * or a function such as `(c, ctx) => c.guilds.cache.get(ctx.id)`, which is then called with the
 * client and the context, as discord.js's broadcastEval(fn, {context}) does) or a body with
 * `return`. */
function compile(code) {
  let fn = compiled.get(code);
  if (fn) return fn;
  try {
    fn = new Function('client', 'context', `return (\n${code}\n);`);
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    fn = new AsyncFunction('client', 'context', code); // a SyntaxError here is the code's own
  }
  if (compiled.size > 256) compiled.clear(); // generated code strings must not leak memory
  compiled.set(code, fn);
  return fn;
}

const KINDS = {
  ReferenceError: 'NameError',
  TypeError: 'TypeError',
  SyntaxError: 'SyntaxError',
  RangeError: 'ValueError',
  DiscordAPIError: 'DiscordError',
};

class Unsendable extends Error {}

const MAX_DEPTH = 100;

/** A JSON-safe copy of `value` (what JSON.stringify would send, as discord.js's own manager
 * does), except that what JSON would silently drop or choke on is an error. */
function toPlain(value, depth = 0, seen = new Set()) {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : null;
    case 'bigint':
      return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
    case 'function':
      throw new Unsendable('a function (functions stay in their shard: return what they compute)');
    case 'symbol':
      return value.toString();
    default:
      break;
  }
  if (depth >= MAX_DEPTH) throw new Unsendable(`lists and objects nested deeper than ${MAX_DEPTH} levels`);
  if (seen.has(value)) {
    throw new Unsendable(`${Array.isArray(value) ? 'a list' : 'an object'} that contains itself`);
  }
  if (typeof value.toJSON === 'function') return toPlain(value.toJSON(), depth, seen);
  seen.add(value);
  let out;
  if (Array.isArray(value)) {
    out = value.map((item) => toPlain(item, depth + 1, seen));
  } else if (value instanceof Map) {
    out = {};
    for (const [key, item] of value) out[String(key)] = toPlain(item, depth + 1, seen);
  } else {
    out = {};
    for (const key of Object.keys(value)) out[key] = toPlain(value[key], depth + 1, seen);
  }
  seen.delete(value);
  return out;
}

function requireClient() {
  if (!client) throw Object.assign(new Error(`shard ${config.shard_id} has no client yet`), { kind: 'ShardingError' });
  return client;
}

function errorReply(id, error) {
  if (error instanceof Unsendable) {
    replyError(id, 'ShardingError', `the code returned a value that cannot be sent: ${error.message}`);
  } else if (error?.kind) {
    replyError(id, error.kind, error.message);
  } else {
    const name = error?.name ?? 'Error';
    const kind = KINDS[String(name).replace(/\[.*$/, '')] ?? 'Error'; // "DiscordAPIError[50013]"
    replyError(id, kind, `${name}: ${error?.message ?? String(error)}`);
  }
}

function answerEval(id, data) {
  const bot = requireClient();
  const context = data.context ?? null; // broadcast_eval's {context: ...}: plain values
  let value = compile(data.code).call(bot, bot, context);
  if (typeof value === 'function') value = value.call(bot, bot, context);
  if (!value || typeof value.then !== 'function') {
    reply(id, toPlain(value)); // most evals: answered at once
    return;
  }
  const seconds = data.timeout;
  let timer = null;
  const limit = new Promise((resolve, reject) => {
    if (seconds) {
      timer = setTimeout(() => {
        reject(Object.assign(new Error(`the code did not finish within ${seconds} s`), { kind: 'TimeoutError' }));
      }, seconds * 1000);
    }
  });
  Promise.race([value, limit])
    .then((result) => reply(id, toPlain(result)))
    .catch((error) => errorReply(id, error))
    .finally(() => clearTimeout(timer));
}

/** The names one can read on `value` (own keys and getters of its classes), for errors. */
function names(value) {
  const out = new Set();
  for (let o = Object(value); o && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const key of Object.getOwnPropertyNames(o)) {
      if (!key.startsWith('_') && key !== 'constructor') {
        const desc = Object.getOwnPropertyDescriptor(o, key);
        if (desc && (desc.get || typeof desc.value !== 'function')) out.add(key);
      }
    }
  }
  const list = [...out].sort();
  return list.length > 30 ? `${list.slice(0, 30).join(', ')}, …` : list.join(', ');
}

function fetchPath(raw) {
  if (typeof raw !== 'string' || !raw.trim()) {
    throw Object.assign(new Error('the property path must be a non-empty string'), { kind: 'ValueError' });
  }
  let parts = raw.trim().split('.');
  if (parts[0] === 'client' && parts.length > 1) parts = parts.slice(1);
  let value = requireClient();
  let walked = 'client';
  for (const part of parts) {
    if (value === null || value === undefined || typeof value !== 'object' && typeof value !== 'function') {
      throw Object.assign(new Error(`${walked} is ${value === undefined ? 'undefined' : JSON.stringify(value)}, so '${raw}' is invalid`), { kind: 'ValueError' });
    }
    if (!(part in value)) {
      throw Object.assign(new Error(`unknown property '${part}' of ${walked} in '${raw}'; valid: ${names(value)}`), { kind: 'ValueError' });
    }
    value = value[part];
    walked += `.${part}`;
  }
  return toPlain(value);
}

function stats() {
  const bot = client;
  const ready = Boolean(bot?.isReady());
  const ping = bot ? bot.ws.ping : NaN;
  let users = 0;
  if (bot) for (const guild of bot.guilds.cache.values()) users += guild.memberCount ?? 0;
  return {
    shard_id: config.shard_id,
    guild_count: bot ? bot.guilds.cache.size : 0,
    user_count: users,
    ping: Number.isFinite(ping) && ping >= 0 ? Math.round(ping) : null,
    memory_mb: Math.round((process.memoryUsage.rss() / (1024 * 1024)) * 10) / 10,
    uptime_ms: ready ? bot.uptime ?? 0 : 0,
    ready,
    events_received: Object.values(counters.events).reduce((a, b) => a + b, 0),
    events_by_type: counters.events,
    resumes: counters.resumes,
    rest_requests: counters.rest_requests,
    rest_429s: counters.rest_429s,
  };
}

async function shutdown() {
  if (exiting) return;
  exiting = true;
  event('status', { status: 'dead' });
  const timer = setTimeout(() => exitWith(0), 5000); // a destroy that hangs must not keep us
  try {
    await client?.destroy(); // closes the gateway with 1000
  } catch (error) {
    console.error(`ezlang: warning: closing the gateway connection failed: ${error?.message ?? error}`);
  } finally {
    clearTimeout(timer);
    exitWith(0);
  }
}

function onRequest(message) {
  const { i: id, op, d: data } = message;
  try {
    switch (op) {
      case 'eval':
        answerEval(id, data);
        return;
      case 'fetch':
        reply(id, fetchPath(data.path));
        return;
      case 'stats':
        reply(id, stats());
        return;
      case 'shutdown':
        reply(id, true);
        shutdown();
        return;
      case 'ping':
        reply(id, true);
        return;
      case 'message':
        deliverMessage(id, data);
        return;
      default:
        replyError(id, 'ShardingError', `unknown request ${JSON.stringify(op)}`);
    }
  } catch (error) {
    errorReply(id, error);
  }
}

/** send_to_shard / send_to_all_shards: `data` reaches the bot's own process.on('message')
 * listeners, as a message from discord.js's Shard#send or ShardingManager#broadcast does. */
function deliverMessage(id, message) {
  const theirs = process
    .rawListeners('message') // a once() listener is removed when called
    .filter((fn) => fn !== onMessage && fn.name !== 'bound _handleMessage'); // ours, discord.js's
  if (!theirs.length) {
    replyError(
      id,
      'ShardingError',
      `shard ${config.shard_id} has no process.on('message') listener, so nothing received the message`,
    );
    return;
  }
  reply(id, true);
  setImmediate(() => {
    for (const listener of theirs) listener(message?.data ?? null);
  });
}

function onMessage(message) {
  if (!message || typeof message !== 'object') return;
  if (message.k === 'r') {
    const waiter = pending.get(message.i);
    if (!waiter) return;
    pending.delete(message.i);
    if (message.ok) waiter.resolve(message.d);
    else waiter.reject(Object.assign(new Error(message.e?.message ?? 'failed'), { kind: message.e?.kind }));
  } else if (message.k === 'q') {
    onRequest(message);
  }
}
process.on('message', onMessage);

// --- heartbeats, and leaving with the manager ------------------------------------------------

event('hb');
setInterval(() => event('hb'), config.heartbeat_interval * 1000).unref();

// Our stdout and stderr are pipes to the manager: once it is gone, a write fails with EPIPE,
// which must not crash the shard before it has closed its gateway session.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => {
    if (error?.code !== 'EPIPE') throw error;
  });
}

process.on('disconnect', () => {
  // The manager is gone (end-of-file on the channel): close politely and leave.
  for (const waiter of pending.values()) waiter.reject(new Error('the shard manager is gone'));
  pending.clear();
  shutdown();
});

// A thread that kills this process when the manager has died and the bot's event loop is too
// busy to notice the end of the channel.
new Worker(
  `const { parentPort, workerData } = require('node:worker_threads');
   const start = workerData.manager;
   const timer = setInterval(() => {
     if (process.ppid === start) return;
     clearInterval(timer);
     setTimeout(() => process.kill(workerData.self, 'SIGKILL'), 3000);
   }, 500);`,
  { eval: true, execArgv: [], workerData: { manager: process.ppid, self: process.pid } },
).unref();
