'use strict'
// kafkapy compat driver for kafkajs (producer, consumer, admin).
//
// Reads one JSON request per line on stdin, writes one JSON reply per line on stdout
// (protocol: compat_tests/drivers/README.md). Logs go to stderr.
//
// kafkajs specifics, all kept as an application would see them:
// - Codecs: gzip is built in; snappy and lz4 come from the kafkajs-snappy / kafkajs-lz4 plugins
//   (pinned in package-lock.json); zstd has no plugin that installs here, so it is `unsupported`.
// - kafkajs has no assign(): its consumer always joins a consumer group. `consume` therefore uses
//   a throwaway group (nothing committed) and seeks; against a broker without the group APIs the
//   client reports KafkaJSServerDoesNotSupportApiKey and the step is answered `unsupported`.
// - Headers are an object in kafkajs: repeated names become arrays, so the order of interleaved
//   repeated names (a, b, a) cannot be kept.
// - Throttling: kafkajs reports a response's throttle time only through its logger (its request
//   queue's debug line, KIP-219); no instrumentation event carries it. Producers therefore come
//   from a second Kafka instance logging at DEBUG, whose log lines are read for that number.

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'

const fs = require('fs')
const readline = require('readline')
const crypto = require('crypto')
const {
  Kafka,
  CompressionTypes,
  CompressionCodecs,
  Partitioners,
  ConfigResourceTypes,
  logLevel,
} = require('kafkajs')
const SnappyCodec = require('kafkajs-snappy')
const LZ4Codec = require('kafkajs-lz4')

CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec
CompressionCodecs[CompressionTypes.LZ4] = new LZ4Codec().codec

const OPS = [
  'hello', 'create_topic', 'metadata', 'produce', 'consume', 'watermarks', 'offsets_for_times',
  'group_consume', 'txn_produce', 'delete_topic', 'create_partitions', 'describe_configs', 'delete_records',
  'list_groups', 'describe_group', 'delete_group',
]
const CODECS = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
}

function parseArgs(argv) {
  let bootstrap = '127.0.0.1:9092'
  let clientConfig = {}
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--bootstrap' && i + 1 < argv.length) bootstrap = argv[++i]
    else if (argv[i].startsWith('--bootstrap=')) bootstrap = argv[i].slice('--bootstrap='.length)
    else if (argv[i] === '--client-config' && i + 1 < argv.length) clientConfig = JSON.parse(argv[++i])
  }
  return { bootstrap, clientConfig }
}

const { bootstrap, clientConfig } = parseArgs(process.argv.slice(2))

const SASL_MECHANISMS = { PLAIN: 'plain', 'SCRAM-SHA-256': 'scram-sha-256', 'SCRAM-SHA-512': 'scram-sha-512' }

// The runner's --client-config as kafkajs' `ssl` and `sasl` options (drivers/README.md). A setting
// kafkajs cannot take sets `reason` instead: every op but hello then answers `unsupported`.
function securityOptions(c) {
  const protocol = c.security_protocol || 'PLAINTEXT'
  if (!['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'].includes(protocol)) {
    return { reason: `unknown security_protocol ${protocol}` }
  }
  const opts = {}
  if (protocol.endsWith('SSL')) {
    opts.ssl = {}
    if (c.ssl_ca_location) opts.ssl.ca = [fs.readFileSync(c.ssl_ca_location, 'utf8')]
    if (c.ssl_certificate_location) {
      opts.ssl.cert = fs.readFileSync(c.ssl_certificate_location, 'utf8')
      opts.ssl.key = fs.readFileSync(c.ssl_key_location, 'utf8')
    }
  }
  if (protocol.startsWith('SASL_')) {
    const mechanism = SASL_MECHANISMS[c.sasl_mechanism]
    if (!mechanism) return { reason: `SASL mechanism not set up by the kafkajs driver: ${c.sasl_mechanism}` }
    opts.sasl = { mechanism, username: c.sasl_username, password: c.sasl_password }
  }
  return { opts }
}

// A TLS file that cannot be read is a reason too: hello must still answer.
function securityOrReason(c) {
  try {
    return securityOptions(c)
  } catch (e) {
    return { reason: `cannot apply --client-config: ${e.message}` }
  }
}

const security = securityOrReason(clientConfig)

// kafkajs logs (WARN and up) go to stderr as one JSON line each.
const logCreator = () => ({ namespace, level, label, log }) => {
  const { message, ...extra } = log
  process.stderr.write(`[kafkajs ${label}] ${namespace}: ${message} ${JSON.stringify(extra)}\n`)
}

const kafkaOptions = {
  clientId: 'kafkapy-compat-kafkajs',
  brokers: [bootstrap],
  logLevel: logLevel.WARN,
  logCreator,
  // Bounded retries: a misbehaving broker must fail the step, not stall it for minutes.
  retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 2000 },
  ...security.opts,
}
const kafka = new Kafka(kafkaOptions)

// The largest throttle time the producers' request queues reported since the last take.
let producerThrottleMs = 0
const THROTTLE_LINE = /^Client side throttling in effect for (\d+)ms/
const producerLogCreator = level => {
  const forward = logCreator(level)
  return entry => {
    const m = THROTTLE_LINE.exec(entry.log.message)
    if (m) producerThrottleMs = Math.max(producerThrottleMs, Number(m[1]))
    if (entry.level <= logLevel.WARN) forward(entry)
  }
}
const producerKafka = new Kafka({ ...kafkaOptions, logLevel: logLevel.DEBUG, logCreator: producerLogCreator })

function takeThrottle() {
  const ms = producerThrottleMs
  producerThrottleMs = 0
  return ms
}

class BadRequest extends Error {}

const dec = v => (v === null || v === undefined ? null : Buffer.from(v, 'base64'))
const enc = b => (b === null || b === undefined ? null : Buffer.from(b).toString('base64'))

// Kafka's error name when kafkajs has one (KafkaJSProtocolError.type is Kafka's upper-snake name),
// looking through kafkajs' wrappers (retries exceeded, aggregate errors); else the error class.
function errorName(e) {
  // KafkaJSDeleteGroupsError carries the per-group protocol errors in `groups`.
  if (e && Array.isArray(e.groups) && e.groups.length && e.groups[0].error) return errorName(e.groups[0].error)
  for (let cur = e, depth = 0; cur && depth < 10; depth++) {
    if (typeof cur.type === 'string' && /^[A-Z_]+$/.test(cur.type)) return cur.type
    if (Array.isArray(cur.errors) && cur.errors.length) {
      const inner = cur.errors.find(x => x && typeof x.type === 'string')
      if (inner) return inner.type
    }
    cur = cur.cause || cur.originalError
  }
  return (e && e.name) || 'Error'
}

// The first error named `name` in e's chain of causes (kafkajs wraps errors when it retries).
function findError(e, name) {
  for (let cur = e, depth = 0; cur && depth < 10; depth++) {
    if (cur.name === name) return cur
    cur = cur.cause || cur.originalError
  }
  return null
}

function errorReply(e) {
  // An aggregate ("Topic creation errors") says more through its first inner error.
  const inner = e && Array.isArray(e.errors) && e.errors.length ? e.errors[0] : e
  return { ok: false, error: errorName(e), message: (inner && inner.message) || String(e) }
}

const unsupported = message => ({ ok: false, unsupported: true, message })

let admin = null
async function getAdmin() {
  if (!admin) {
    admin = kafka.admin()
    await admin.connect()
  }
  return admin
}

// Producers by idempotence (the rest are per-send options in kafkajs). The partitioner wraps
// kafkajs' default (murmur2, Java-compatible) only to record which partition it chose for each
// message object, since send() reports a base offset per partition, not per message.
const chosen = new WeakMap()
const producers = new Map()
async function getProducer(idempotent) {
  const key = String(idempotent)
  if (!producers.has(key)) {
    const createPartitioner = () => {
      const inner = Partitioners.DefaultPartitioner()
      return args => {
        const p = inner(args)
        chosen.set(args.message, p)
        return p
      }
    }
    const opts = { createPartitioner }
    if (idempotent) Object.assign(opts, { idempotent: true, maxInFlightRequests: 1 })
    const p = producerKafka.producer(opts)
    await p.connect()
    producers.set(key, p)
  }
  return producers.get(key)
}

function isNull(req, key) {
  return req[key] === undefined || req[key] === null
}

async function createTopic(req) {
  const a = await getAdmin()
  const topic = { topic: req.topic }
  if (!isNull(req, 'partitions')) topic.numPartitions = req.partitions
  topic.replicationFactor = isNull(req, 'replication_factor') ? 1 : req.replication_factor
  if (req.configs) {
    topic.configEntries = Object.entries(req.configs).map(([name, value]) => ({
      name,
      value: value === null ? null : String(value),
    }))
  }
  const created = await a.createTopics({ topics: [topic], waitForLeaders: true, timeout: 10000 })
  // kafkajs swallows TOPIC_ALREADY_EXISTS and resolves false: that is how it exposes the error.
  if (!created) return { ok: false, error: 'TOPIC_ALREADY_EXISTS', message: 'createTopics resolved false' }
  return { ok: true }
}

async function metadata(req) {
  const a = await getAdmin()
  const cluster = await a.describeCluster()
  const brokers = cluster.brokers.map(b => ({ id: b.nodeId, host: b.host, port: b.port }))
  const topics = {}
  if (isNull(req, 'topics')) {
    const md = await a.fetchTopicMetadata()
    for (const t of md.topics) topics[t.name] = { partitions: t.partitions.length }
  } else {
    // One request per topic: kafkajs fails the whole call on the first topic error.
    for (const name of req.topics) {
      try {
        const md = await a.fetchTopicMetadata({ topics: [name] })
        const t = md.topics.find(x => x.name === name)
        topics[name] = { partitions: t ? t.partitions.length : 0 }
      } catch (e) {
        topics[name] = { partitions: 0, error: errorName(e) }
      }
    }
  }
  return { ok: true, brokers, topics }
}

function headersOf(list) {
  const out = {}
  for (const [name, value] of list || []) {
    const v = dec(value)
    if (!(name in out)) out[name] = v
    else if (Array.isArray(out[name])) out[name].push(v)
    else out[name] = [out[name], v]
  }
  return out
}

async function produce(req) {
  const compression = req.compression || 'none'
  if (compression === 'zstd') return unsupported('kafkajs has no zstd codec that installs here')
  if (!(compression in CODECS)) return unsupported(`unknown compression ${compression}`)
  const acksName = isNull(req, 'acks') ? 'all' : String(req.acks)
  const acks = { all: -1, '-1': -1, 1: 1, 0: 0 }[acksName]
  if (acks === undefined) throw new BadRequest(`unknown acks ${acksName}`)
  const idempotent = !!req.idempotent
  // kafkajs sizes header values with Buffer.byteLength and throws a TypeError on null.
  if (req.messages.some(m => (m.headers || []).some(h => h[1] === null))) {
    return unsupported('kafkajs cannot send a null header value')
  }
  const producer = await getProducer(idempotent)

  const messages = req.messages.map(m => {
    const msg = { key: dec(m.key), value: dec(m.value), headers: headersOf(m.headers) }
    // kafkajs stamps Date.now() when no timestamp is given; it takes the timestamp as a string.
    if (!isNull(m, 'timestamp')) msg.timestamp = String(m.timestamp)
    if (!isNull(m, 'partition')) msg.partition = m.partition
    return msg
  })
  takeThrottle() // the reply reports the throttle times of this produce only
  const results = []
  for (const chunk of batches(messages, req.batch_bytes)) {
    const meta = await producer.send({
      topic: req.topic,
      messages: chunk,
      acks,
      compression: CODECS[compression],
      timeout: 30000,
    })
    results.push(...offsetsOf(chunk, meta, acks))
  }
  // kafkajs drops, without an error, the messages for a partition that is not in the topic's
  // metadata (sendMessages.js finds no leader for it and sends nothing): send() resolves with no
  // result for that partition. That is Kafka's UNKNOWN_TOPIC_OR_PARTITION condition; say so.
  const lost = results.find(r => r.offset === null)
  if (lost) {
    return {
      ok: false,
      error: 'UNKNOWN_TOPIC_OR_PARTITION',
      message: `kafkajs send() resolved without a result for partition ${lost.partition} (not in the topic metadata); the message was not sent`,
    }
  }
  return { ok: true, results, throttle_time_ms: takeThrottle() }
}

// kafkajs has no batch size: send() puts all its messages for a partition in one batch. With
// `batch_bytes` the driver sends consecutive chunks of about that many bytes, one send() each, as an
// application bounding its requests would.
function batches(messages, batchBytes) {
  if (!batchBytes) return [messages]
  const size = m => (m.key ? m.key.length : 0) + (m.value ? m.value.length : 0)
  const out = [[]]
  let bytes = 0
  for (const m of messages) {
    if (out[out.length - 1].length && bytes + size(m) > batchBytes) {
      out.push([])
      bytes = 0
    }
    out[out.length - 1].push(m)
    bytes += size(m)
  }
  return out
}

// kafkajs sends each partition's messages as one batch in request order, and reports its base
// offset: message i's offset is the base plus its rank among the messages sent to its partition.
function offsetsOf(messages, meta, acks) {
  const base = new Map((meta || []).map(r => [r.partition, BigInt(r.baseOffset)]))
  const rank = new Map()
  return messages.map(msg => {
    const partition = chosen.has(msg) ? chosen.get(msg) : msg.partition
    const n = rank.get(partition) || 0
    rank.set(partition, n + 1)
    if (acks === 0) return { partition, offset: -1 }
    if (!base.has(partition)) return { partition, offset: null }
    return { partition, offset: Number(base.get(partition) + BigInt(n)) }
  })
}

async function partitionsOf(topic) {
  const a = await getAdmin()
  const md = await a.fetchTopicMetadata({ topics: [topic] })
  return md.topics[0].partitions.map(p => p.partitionId).sort((x, y) => x - y)
}

async function consume(req) {
  const timeoutMs = isNull(req, 'timeout_ms') ? 10000 : req.timeout_ms
  const count = isNull(req, 'count') ? 1 : req.count
  const deadline = Date.now() + timeoutMs
  let startName = null
  const startAt = new Map()
  if (isNull(req, 'start')) startName = 'earliest'
  else if (typeof req.start === 'string') startName = req.start
  else if (typeof req.start === 'object') {
    for (const [p, o] of Object.entries(req.start)) startAt.set(Number(p), String(o))
  }
  if (startName !== null && startName !== 'earliest' && startName !== 'latest') {
    throw new BadRequest('start must be earliest, latest or {partition: offset}')
  }
  let parts
  if (!isNull(req, 'partitions')) parts = req.partitions
  else if (startAt.size) parts = [...startAt.keys()]
  else parts = await partitionsOf(req.topic)
  const wanted = new Set(parts)
  if (count <= 0) return { ok: true, messages: [] }

  // A throwaway group (kafkajs' only way to consume); nothing is committed.
  const consumer = kafka.consumer({
    groupId: `kafkapy-compat-kafkajs-${crypto.randomUUID()}`,
    maxWaitTimeInMs: 500,
    readUncommitted: req.isolation_level !== 'read_committed',
    retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 1000 },
  })
  const messages = []
  let failure = null
  let done
  const finished = new Promise(resolve => {
    done = resolve
  })
  const timer = setTimeout(() => done(), Math.max(0, deadline - Date.now()))
  consumer.on(consumer.events.CRASH, ev => {
    failure = ev.payload.error
    done()
  })
  try {
    await consumer.connect()
    await consumer.subscribe({ topics: [req.topic], fromBeginning: startName !== 'latest' })
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        if (!wanted.has(partition) || messages.length >= count) return
        const headers = []
        for (const [name, value] of Object.entries(message.headers || {})) {
          for (const v of Array.isArray(value) ? value : [value]) headers.push([name, enc(v)])
        }
        messages.push({
          partition,
          offset: Number(message.offset),
          key: enc(message.key),
          value: enc(message.value),
          headers,
          timestamp: Number(message.timestamp),
        })
        if (messages.length >= count) done()
      },
    })
    // seek() is only valid once run() has started; the group has no committed offsets, so the
    // partitions without an explicit start follow fromBeginning.
    for (const [partition, offset] of startAt) consumer.seek({ topic: req.topic, partition, offset })
    await finished
  } catch (e) {
    failure = failure || e
  } finally {
    clearTimeout(timer)
    await consumer.disconnect().catch(() => {})
  }
  if (failure) {
    const noApi = findError(failure, 'KafkaJSServerDoesNotSupportApiKey')
    if (noApi) {
      return unsupported(`kafkajs consumes only through a consumer group, which this broker does not support: ${noApi.message}`)
    }
    // kafkajs' own "not implemented" (e.g. a zstd batch without a zstd codec) is a client limit.
    const notImplemented = findError(failure, 'KafkaJSNotImplemented')
    if (notImplemented) return unsupported(notImplemented.message)
    return errorReply(failure)
  }
  return { ok: true, messages: messages.slice(0, count) }
}

async function partitionOffsets(topic, partition) {
  const a = await getAdmin()
  const offsets = await a.fetchTopicOffsets(topic)
  const p = offsets.find(x => x.partition === partition)
  if (!p) {
    const e = new Error(`no partition ${partition} in topic ${topic}`)
    e.type = 'UNKNOWN_TOPIC_OR_PARTITION'
    throw e
  }
  return p
}

async function watermarks(req) {
  const p = await partitionOffsets(req.topic, req.partition)
  return { ok: true, low: Number(p.low), high: Number(p.high) }
}

async function offsetsForTimes(req) {
  const a = await getAdmin()
  const high = await partitionOffsets(req.topic, req.partition)
  const res = await a.fetchTopicOffsetsByTimestamp(req.topic, req.timestamp)
  const p = res.find(x => x.partition === req.partition)
  if (!p) return { ok: false, error: 'UNKNOWN_TOPIC_OR_PARTITION', message: `no partition ${req.partition}` }
  // kafkajs replaces the broker's -1 ("no record at or after the timestamp") by the high watermark;
  // no record can sit at the high watermark, so that value means "none" (-1 in the protocol).
  const offset = Number(p.offset)
  return { ok: true, offset: offset >= Number(high.high) ? -1 : offset }
}

// ---------------------------------------------------------------- groups

// One consumer of a group_consume run. kafkajs reports each member's assignment in the GROUP_JOIN
// event (after every join + sync); REBALANCING means it is giving it up.
function startMember(req) {
  const m = { assigned: [], read: new Map(), failure: null, stopped: false }
  m.consumer = kafka.consumer({
    groupId: req.group,
    sessionTimeout: req.session_timeout_ms || 6000,
    heartbeatInterval: 500,
    maxWaitTimeInMs: 500,
    retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 1000 },
  })
  const { GROUP_JOIN, REBALANCING, CRASH } = m.consumer.events
  m.consumer.on(GROUP_JOIN, ev => {
    m.assigned = [...(ev.payload.memberAssignment[req.topic] || [])].sort((a, b) => a - b)
  })
  m.consumer.on(REBALANCING, () => {
    m.assigned = []
  })
  m.consumer.on(CRASH, ev => {
    m.failure = ev.payload.error
  })
  m.started = (async () => {
    await m.consumer.connect()
    await m.consumer.subscribe({ topics: [req.topic], fromBeginning: true })
    await m.consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        m.read.set(`${partition}/${message.offset}`, {
          partition,
          offset: Number(message.offset),
          key: enc(message.key),
          value: enc(message.value),
          headers: [],
          timestamp: Number(message.timestamp),
        })
      },
    })
  })().catch(e => {
    m.failure = m.failure || e
  })
  return m
}

const ownedRead = m => [...m.read.values()].filter(r => m.assigned.includes(r.partition)).length

// Every member owns partitions and none is owned twice.
function split(ms) {
  const all = new Set(ms.flatMap(m => m.assigned))
  return ms.every(m => m.assigned.length) && all.size === ms.reduce((n, m) => n + m.assigned.length, 0)
}

async function waitFor(ms, deadline, what, cond) {
  while (!cond()) {
    const failed = ms.find(m => m.failure)
    if (failed) throw failed.failure
    if (Date.now() > deadline) {
      const state = ms.map(m => [m.assigned, m.read.size])
      return { ok: false, error: 'Timeout', message: `${what}: members' (assignment, records read): ${JSON.stringify(state)}` }
    }
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  return null
}

async function groupConsume(req) {
  if ((req.group_protocol && req.group_protocol !== 'classic') || req.topic_regex) {
    return unsupported('kafkajs has no KIP-848 consumer group protocol (group.protocol=consumer) nor broker-side regex')
  }
  if (req.instance_ids) return unsupported('kafkajs has no static membership (group.instance.id, KIP-345)')
  if (req.assignor && req.assignor !== 'roundrobin') {
    // kafkajs ships only its round-robin assigner (and no cooperative rebalancing, KIP-429).
    return unsupported(`kafkajs has no ${req.assignor} assignor`)
  }
  const deadline = Date.now() + (req.timeout_ms || 30000)
  let ms = []
  for (let i = 0; i < (req.members || 1); i++) ms.push(startMember(req))
  try {
    let failed = await waitFor(ms, deadline, `split and read ${req.count} records`,
      () => split(ms) && ms.reduce((n, m) => n + ownedRead(m), 0) >= req.count)
    if (failed) return failed
    const reply = {
      ok: true,
      members: ms.map(m => ({ assigned: m.assigned, messages: [...m.read.values()] })),
    }
    if (req.commit) {
      for (const [i, m] of ms.entries()) {
        // Commit the next offset to read on each partition owned at the split (what auto-commit would).
        const owned = reply.members[i].assigned
        const next = new Map()
        for (const r of m.read.values()) {
          if (owned.includes(r.partition)) next.set(r.partition, Math.max(next.get(r.partition) || 0, r.offset + 1))
        }
        const offsets = [...next].map(([partition, o]) => ({ topic: req.topic, partition, offset: String(o) }))
        await m.consumer.commitOffsets(offsets)
      }
    }
    if (req.leave) {
      const everything = new Set(ms.flatMap(m => m.assigned))
      const [first, ...rest] = ms
      ms = rest
      await first.consumer.disconnect() // LeaveGroup
      failed = await waitFor(rest, deadline, 'takeover',
        () => split(rest) && new Set(rest.flatMap(m => m.assigned)).size === everything.size)
      if (failed) return failed
      reply.after_leave = rest.map(m => m.assigned)
    }
    return reply
  } finally {
    await Promise.all(ms.map(m => m.consumer.disconnect().catch(() => {})))
  }
}

// ---------------------------------------------------------------- transactions

const txnProducers = new Map()
async function txnProduce(req) {
  if (!txnProducers.has(req.transactional_id)) {
    const p = kafka.producer({ transactionalId: req.transactional_id, idempotent: true, maxInFlightRequests: 1 })
    await p.connect()
    txnProducers.set(req.transactional_id, p)
  }
  const txn = await txnProducers.get(req.transactional_id).transaction()
  try {
    const messages = req.messages.map(m => {
      const msg = { key: dec(m.key), value: dec(m.value) }
      if (!isNull(m, 'partition')) msg.partition = m.partition
      return msg
    })
    await txn.send({ topic: req.topic, messages, acks: -1 })
    if (req.send_offsets) {
      const { group, topic, offsets } = req.send_offsets
      const partitions = Object.entries(offsets).map(([partition, offset]) => ({ partition: Number(partition), offset: String(offset) }))
      await txn.sendOffsets({ consumerGroupId: group, topics: [{ topic, partitions }] })
    }
    if (req.end === 'abort') await txn.abort()
    else await txn.commit()
  } catch (e) {
    if (txn.isActive()) await txn.abort().catch(() => {})
    throw e
  }
  return { ok: true, results: req.messages.map(m => ({ partition: m.partition, offset: null })) }
}

// ---------------------------------------------------------------- admin

async function adminOp(req) {
  const a = await getAdmin()
  switch (req.op) {
    case 'delete_topic':
      await a.deleteTopics({ topics: [req.topic], timeout: 10000 })
      return { ok: true }
    case 'create_partitions':
      await a.createPartitions({ topicPartitions: [{ topic: req.topic, count: req.count }] })
      return { ok: true }
    case 'describe_configs': {
      const res = await a.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: req.topic }] })
      const configs = {}
      for (const e of res.resources[0].configEntries) configs[e.configName] = e.configValue
      return { ok: true, configs }
    }
    case 'delete_records': {
      const partitions = Object.entries(req.offsets).map(([partition, offset]) => ({ partition: Number(partition), offset: String(offset) }))
      await a.deleteTopicRecords({ topic: req.topic, partitions })
      // kafkajs does not report the new low watermarks.
      return { ok: true, low_watermarks: Object.fromEntries(Object.keys(req.offsets).map(p => [p, null])) }
    }
    case 'list_groups':
      return { ok: true, groups: (await a.listGroups()).groups.map(g => g.groupId) }
    case 'describe_group': {
      const [g] = (await a.describeGroups([req.group])).groups
      if (g.errorCode) return { ok: false, error: `errorCode ${g.errorCode}`, message: 'describeGroups' }
      const members = g.members.map(m => ({ member_id: m.memberId, instance_id: null, assigned: [] }))
      return { ok: true, state: g.state, members }
    }
    case 'delete_group':
      await a.deleteGroups([req.group])
      return { ok: true }
  }
  return unsupported(`op not implemented by the kafkajs driver: ${req.op}`)
}

async function handle(req) {
  if (req.op !== 'hello' && security.reason) return unsupported(security.reason)
  switch (req.op) {
    case 'hello':
      return { ok: true, client: 'kafkajs', version: require('kafkajs/package.json').version, ops: OPS }
    case 'create_topic':
      return createTopic(req)
    case 'metadata':
      return metadata(req)
    case 'produce':
      return produce(req)
    case 'consume':
      return consume(req)
    case 'watermarks':
      return watermarks(req)
    case 'offsets_for_times':
      return offsetsForTimes(req)
    case 'group_consume':
      return groupConsume(req)
    case 'txn_produce':
      return txnProduce(req)
    case 'delete_topic':
    case 'create_partitions':
    case 'describe_configs':
    case 'delete_records':
    case 'list_groups':
    case 'describe_group':
    case 'delete_group':
      return adminOp(req)
    case 'alter_configs':
      // kafkajs' alterConfigs is AlterConfigs (replaces every dynamic config); no incremental form.
      return unsupported('kafkajs has no incremental alter configs (KIP-339)')
    default:
      return unsupported(`op not implemented by the kafkajs driver: ${req.op}`)
  }
}

async function main() {
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
  for await (const line of rl) {
    if (!line.trim()) continue
    let reply
    try {
      reply = await handle(JSON.parse(line))
    } catch (e) {
      if (e instanceof BadRequest || e instanceof SyntaxError) reply = { ok: false, error: 'BAD_REQUEST', message: e.message }
      else reply = errorReply(e)
    }
    process.stdout.write(JSON.stringify(reply) + '\n')
  }
  await Promise.all([...producers.values(), ...txnProducers.values()].map(p => p.disconnect().catch(() => {})))
  if (admin) await admin.disconnect().catch(() => {})
  process.exit(0)
}

main().catch(e => {
  process.stderr.write(`kafkajs driver: ${e.stack || e}\n`)
  process.exit(1)
})
