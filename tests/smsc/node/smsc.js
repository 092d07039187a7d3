#!/usr/bin/env node
// A small SMSC for Qasid's tests, built on node-smpp 0.5.1: an SMPP 3.4 peer written by other
// people, so our client is checked against someone else's reading of the spec, not our own.
//
// Start:  node smsc.js [--port N] [--system-id ID] [--password PW] [--id-format dec|hex] [--quiet]
//         (or SMSC_PORT, SMSC_SYSTEM_ID, SMSC_PASSWORD, SMSC_ID_FORMAT, SMSC_QUIET=1; defaults 0, qasid,
//         secret, dec, not quiet).
// It listens on 127.0.0.1 (port 0 = any free port) and speaks JSON lines:
//   stdout: one JSON object per line, each an event {"event": KIND, ...}; the first is
//           {"event":"listening","port":N}. Nothing else is written to stdout (diagnostics go to stderr).
//   stdin:  one JSON command per line, each answered by an event (or {"event":"error","message":...}):
//           {"cmd":"mo","from":"+9647...","to":"12345","text":"hello"}  -> mo_sent
//               (optional "system_id"; optional "hex" + "data_coding" + "esm_class" send raw octets)
//           {"cmd":"drop"}  -> dropped (every connection is destroyed, no unbind)
//           {"cmd":"stop"}  -> stopping, then the process exits. End of stdin also exits.
// Message ids count up from 3000000001, in decimal or lowercase hex (--id-format).
// --quiet (for benchmarks: a JSON line per PDU is work a real SMSC does not do) leaves out the
// events of each message and each keep-alive: submit_sm, receipt_sent, receipt_queued,
// deliver_sm_resp and enquire_link. Connections, binds, command answers and errors are still written.
//
// Delivery receipts (registered_delivery & 1, or & 3 == 2 and the message failed) are deliver_sm with
// esm_class 0x04, SMPP 3.4 Appendix B text and the receipted_message_id and message_state TLVs.
// The outcome is chosen by the destination number:
//   ends in "3"  -> stat:UNDELIV err:001 dlvrd:000 message_state 5
//   ends in "5"  -> stat:REJECTD err:002 dlvrd:000 message_state 8
//   otherwise    -> stat:DELIVRD err:000 dlvrd:001 message_state 2
// A receipt goes to the submitting session if it is a transceiver, else to another receiving session
// bound with the same system_id; with none bound it waits (receipt_queued) until one binds.
'use strict';
const readline = require('readline');
const smpp = require('smpp');

const OUTCOMES = {
  3: { stat: 'UNDELIV', err: '001', dlvrd: '000', state: 5 },
  5: { stat: 'REJECTD', err: '002', dlvrd: '000', state: 8 },
};
const DELIVERED = { stat: 'DELIVRD', err: '000', dlvrd: '001', state: 2 };
const RECEIVING = new Set(['bind_receiver', 'bind_transceiver']);
const SENDING = new Set(['bind_transmitter', 'bind_transceiver']);
const HEADER = new Set(['command', 'command_length', 'command_id', 'command_status', 'sequence_number']);
const SAFE = /^[A-Za-z0-9 !"#%&'()*+,\-./:;<=>?]*$/; // the same octet in GSM 03.38 and in ASCII

// node-smpp decodes short_message (and message_payload) into {udh, message: text} by data_coding,
// which loses the octets (GSM decoding is lossy). Keep the octets as they came: a Buffer in, a Buffer out.
// validity_period and schedule_delivery_time likewise stay the strings that were sent, not Dates.
const RAW = { encode: (value) => value, decode: (value) => value };
for (const name of ['short_message', 'validity_period', 'schedule_delivery_time']) {
  smpp.commands.submit_sm.params[name].filter = RAW;
}
smpp.tlvs.message_payload.filter = RAW;

function option(name, env, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  if (at >= 0 && at + 1 < process.argv.length) return process.argv[at + 1];
  return process.env[env] || fallback;
}

const config = {
  port: Number(option('port', 'SMSC_PORT', '0')),
  systemId: option('system-id', 'SMSC_SYSTEM_ID', 'qasid'),
  password: option('password', 'SMSC_PASSWORD', 'secret'),
  idFormat: option('id-format', 'SMSC_ID_FORMAT', 'dec'),
};
if (!['dec', 'hex'].includes(config.idFormat)) throw new Error(`--id-format must be dec or hex`);
const QUIET = process.argv.includes('--quiet') || process.env.SMSC_QUIET === '1';
const PER_MESSAGE = new Set(['submit_sm', 'receipt_sent', 'receipt_queued', 'deliver_sm_resp', 'enquire_link']);

function emit(event, fields) {
  if (QUIET && PER_MESSAGE.has(event)) return;
  process.stdout.write(JSON.stringify({ event, ...fields }) + '\n');
}

let lastSession = 0;
let lastMessage = 3000000000;
const sessions = new Set();
const pending = new Map(); // system_id -> receipts waiting for a receiving session

function nextMessageId() {
  lastMessage += 1;
  return config.idFormat === 'hex' ? lastMessage.toString(16) : String(lastMessage);
}

function plain(value) {
  if (Buffer.isBuffer(value)) return value.toString('hex');
  if (Array.isArray(value)) return value.map(plain);
  return value;
}

function tlvsOf(pdu) {
  const params = smpp.commands[pdu.command].params || {};
  const result = {};
  for (const key of Object.keys(pdu)) {
    if (HEADER.has(key) || key in params) continue;
    const name = /^\d+$/.test(key) ? `0x${Number(key).toString(16).padStart(4, '0')}` : key;
    result[name] = plain(pdu[key]);
  }
  return result;
}

function receivers(systemId) {
  return [...sessions].filter((s) => s.bound && RECEIVING.has(s.bound.command) && s.bound.system_id === systemId);
}

function stamp(date) { // YYMMDDhhmm, UTC
  return date.toISOString().replace(/\D/g, '').slice(2, 12);
}

function textOf(pdu) { // the first 20 characters, any that are not SAFE as '?'
  let octets = (pdu.short_message || []).length ? pdu.short_message : pdu.message_payload || Buffer.alloc(0);
  if (pdu.esm_class & 0x40 && octets.length) octets = octets.subarray(octets[0] + 1); // skip the UDH
  const text = new TextDecoder((pdu.data_coding & 0x0f) === 8 ? 'utf-16be' : 'latin1').decode(octets);
  return [...text].slice(0, 20).map((c) => (SAFE.test(c) ? c : '?')).join('');
}

function receiptFor(pdu, messageId, submitted) {
  const outcome = OUTCOMES[pdu.destination_addr.slice(-1)] || DELIVERED;
  const mode = pdu.registered_delivery & 0x03;
  if (!(mode & 1) && !(mode === 2 && outcome !== DELIVERED)) return null;
  const text = `id:${messageId} sub:001 dlvrd:${outcome.dlvrd} submit date:${stamp(submitted)} ` +
    `done date:${stamp(new Date())} stat:${outcome.stat} err:${outcome.err} text:${textOf(pdu)}`;
  return {
    stat: outcome.stat,
    fields: {
      source_addr_ton: pdu.dest_addr_ton, source_addr_npi: pdu.dest_addr_npi, source_addr: pdu.destination_addr,
      dest_addr_ton: pdu.source_addr_ton, dest_addr_npi: pdu.source_addr_npi, destination_addr: pdu.source_addr,
      esm_class: 0x04, data_coding: 0, short_message: Buffer.from(text, 'ascii'),
      receipted_message_id: messageId, message_state: outcome.state,
    },
  };
}

function deliver(session, fields, type, extra) {
  session.deliver_sm(fields, (resp) => emit('deliver_sm_resp', {
    session: session.id, sequence_number: resp.sequence_number, command: resp.command,
    command_status: resp.command_status, type, ...extra,
  }));
}

function sendReceipt(session, receipt) {
  deliver(session, receipt.fields, 'receipt', { receipted_message_id: receipt.fields.receipted_message_id });
  emit('receipt_sent', {
    session: session.id, message_id: receipt.fields.receipted_message_id, stat: receipt.stat,
    destination_addr: receipt.fields.destination_addr, short_message: receipt.fields.short_message.toString(),
  });
}

function route(origin, receipt) {
  const systemId = origin.bound.system_id;
  const target = RECEIVING.has(origin.bound.command) && !origin.closed ? origin : receivers(systemId)[0];
  if (target) return sendReceipt(target, receipt);
  if (!pending.has(systemId)) pending.set(systemId, []);
  pending.get(systemId).push(receipt);
  emit('receipt_queued', { message_id: receipt.fields.receipted_message_id, system_id: systemId });
}

function onBind(session, pdu) {
  const fields = { command: pdu.command, system_id: pdu.system_id, session: session.id };
  if (session.bound) {
    session.send(pdu.response({ command_status: smpp.ESME_RALYBND }));
    return emit('bind_refused', { ...fields, reason: 'already bound' });
  }
  if (pdu.system_id !== config.systemId || pdu.password !== config.password) {
    session.send(pdu.response({ command_status: smpp.ESME_RBINDFAIL }));
    return emit('bind_refused', { ...fields, reason: 'bad credentials' });
  }
  session.bound = { command: pdu.command, system_id: pdu.system_id };
  session.send(pdu.response({ system_id: 'node-smsc' }));
  emit('bind', fields);
  const waiting = RECEIVING.has(pdu.command) ? pending.get(pdu.system_id) || [] : [];
  pending.delete(pdu.system_id);
  waiting.forEach((receipt) => sendReceipt(session, receipt));
}

function onSubmit(session, pdu) {
  if (!session.bound || !SENDING.has(session.bound.command)) {
    session.send(pdu.response({ command_status: smpp.ESME_RINVBNDSTS }));
    return emit('submit_sm_refused', { session: session.id, sequence_number: pdu.sequence_number });
  }
  const messageId = nextMessageId();
  session.send(pdu.response({ message_id: messageId }));
  if (!QUIET) emit('submit_sm', { // (quiet, not even built)
    session: session.id, sequence_number: pdu.sequence_number, message_id: messageId,
    service_type: pdu.service_type,
    source_addr: pdu.source_addr, source_addr_ton: pdu.source_addr_ton, source_addr_npi: pdu.source_addr_npi,
    destination_addr: pdu.destination_addr, dest_addr_ton: pdu.dest_addr_ton, dest_addr_npi: pdu.dest_addr_npi,
    esm_class: pdu.esm_class, protocol_id: pdu.protocol_id, priority_flag: pdu.priority_flag,
    schedule_delivery_time: pdu.schedule_delivery_time, validity_period: pdu.validity_period,
    registered_delivery: pdu.registered_delivery, data_coding: pdu.data_coding,
    short_message_hex: plain(pdu.short_message), tlvs: tlvsOf(pdu),
  });
  const receipt = receiptFor(pdu, messageId, new Date());
  if (receipt) route(session, receipt);
}

function onSession(session) {
  session.id = ++lastSession;
  sessions.add(session);
  emit('connect', { session: session.id });
  for (const bind of ['bind_transmitter', 'bind_receiver', 'bind_transceiver']) {
    session.on(bind, (pdu) => onBind(session, pdu));
  }
  session.on('submit_sm', (pdu) => onSubmit(session, pdu));
  session.on('enquire_link', (pdu) => {
    session.send(pdu.response());
    emit('enquire_link', { session: session.id, sequence_number: pdu.sequence_number });
  });
  session.on('unbind', (pdu) => {
    session.send(pdu.response(), () => session.close());
    emit('unbind', { session: session.id });
  });
  session.on('pdu', (pdu) => {
    if (pdu.isResponse() || session.listenerCount(pdu.command) > 0) return;
    session.send(pdu.response({ command_status: smpp.ESME_RINVCMDID }));
    emit('unsupported', { session: session.id, command: pdu.command });
  });
  session.on('error', (error) => emit('session_error', { session: session.id, message: error.message }));
  session.on('close', () => {
    session.closed = true;
    sessions.delete(session);
    emit('close', { session: session.id });
  });
}

function octetsFor(text) {
  if (SAFE.test(text)) return [0, Buffer.from(text, 'ascii')];
  return [8, Buffer.from(text, 'utf16le').swap16()]; // UCS-2, big-endian
}

function sendMo(command) {
  if (typeof command.from !== 'string' || typeof command.to !== 'string') {
    return emit('error', { message: 'mo needs "from" and "to"' });
  }
  const systemId = command.system_id || config.systemId;
  const target = receivers(systemId)[0];
  if (!target) return emit('error', { message: `no receiving session bound as ${systemId}` });
  const [dataCoding, octets] = command.hex !== undefined
    ? [command.data_coding || 0, Buffer.from(command.hex, 'hex')] : octetsFor(String(command.text || ''));
  const international = command.from.startsWith('+'); // +E.164 goes out as TON 1 (international), NPI 1
  const fields = {
    source_addr: international ? command.from.slice(1) : command.from,
    source_addr_ton: international ? 1 : 0, source_addr_npi: 1,
    destination_addr: command.to, dest_addr_ton: 0, dest_addr_npi: 0,
    esm_class: command.esm_class || 0, data_coding: dataCoding,
  };
  if (octets.length > 254) fields.message_payload = octets;
  fields.short_message = octets.length > 254 ? Buffer.alloc(0) : octets;
  deliver(target, fields, 'mo', {});
  emit('mo_sent', {
    session: target.id, source_addr: fields.source_addr, destination_addr: fields.destination_addr,
    data_coding: dataCoding, short_message_hex: octets.toString('hex'),
  });
}

function destroyAll() {
  const count = sessions.size;
  sessions.forEach((session) => session.destroy());
  return count;
}

const COMMANDS = {
  mo: sendMo,
  drop: () => emit('dropped', { sessions: destroyAll() }),
  stop: () => {
    emit('stopping', { sessions: destroyAll() });
    process.exit(0);
  },
};

function onCommand(line) {
  if (!line.trim()) return;
  let command;
  try {
    command = JSON.parse(line);
  } catch (error) {
    return emit('error', { message: `not JSON: ${line}` });
  }
  const run = Object.hasOwn(COMMANDS, command.cmd) ? COMMANDS[command.cmd] : null;
  if (run) return run(command);
  emit('error', { message: `unknown cmd: ${JSON.stringify(command.cmd)}` });
}

const server = smpp.createServer(onSession); // a listening error is thrown: the process exits with 1
server.listen(config.port, '127.0.0.1', () => emit('listening', { port: server.address().port }));
const input = readline.createInterface({ input: process.stdin });
input.on('line', onCommand);
input.on('close', COMMANDS.stop);
