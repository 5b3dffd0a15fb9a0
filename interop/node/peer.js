// A snakezmq peer in Node.js, written from docs/protocol.md: it connects to a snakezmq
// listener, says HELLO / IDENT / RESUME, sends and receives acknowledged messages, keeps
// what it delivered across reconnects, and probes when its HELLO goes unanswered.
//
//   node peer.js --connect tcp://127.0.0.1:4000 --ident node
//
// Events go to stdout as JSON lines; commands come on stdin as JSON lines:
//   {"cmd": "send", "to": "py", "data": BASE64, "ttl": 30 | null, "flags": 0}
//   {"cmd": "hold_acks", "value": true}   deliver, but do not acknowledge (as if acks were lost)
//   {"cmd": "reconnect"}                  drop the connection at once and connect again
//   {"cmd": "exit"}
// Exit codes: 0 after "exit" or end of input, 4 refused, 5 duplicate ident.
"use strict";

const crypto = require("crypto");
const readline = require("readline");
const zmq = require("zeromq");
const wire = require("./wire");

const HELLO_TIMEOUT = 1000;  // ms without WELCOME: probe
const PROBE_TIMEOUT = 3000;
const PROBE_WAIT_RETRY = 1000;

function emit(event, fields) {
  process.stdout.write(JSON.stringify(Object.assign({ event }, fields || {})) + "\n");
}

const hex = (buf) => Buffer.from(buf).toString("hex");

class Peer {
  constructor(endpoint, ident) {
    this.endpoint = endpoint;
    this.ident = ident;
    this.incarnation = crypto.randomBytes(8);  // our stream: (incarnation, epoch), seqs from 1
    this.epoch = 1;
    this.nextSeq = 1;
    this.unacked = [];  // our messages not acknowledged yet: {seq, uuid, data, ttl, flags}
    this.ackedUpto = 0;  // acks processed so far: our confirmation
    this.told = -1;  // the confirmation the listener last heard from us
    this.records = new Map();  // per sender ident: {incarnation, epoch, delivered}
    this.holdAcks = false;
    this.dealer = null;
    this.session = null;  // {nonce, established, peerIdent, peerIncarnation, resumed}
    this.sending = Promise.resolve();
    this.timer = null;
  }

  // -- the connection ------------------------------------------------------------------------

  connect() {
    // No ZMTP heartbeat options: docs/protocol.md, "Why no ZMTP heartbeats".
    this.dealer = new zmq.Dealer({ routingId: this.ident, immediate: true, linger: 0 });
    this.dealer.connect(this.endpoint);
    this.readLoop(this.dealer);
    this.hello();
  }

  hello() {
    this.session = { nonce: crypto.randomBytes(8), established: false, resumed: false };
    // With ZMQ_IMMEDIATE the HELLO waits until the connection is up (ZMTP handshake done).
    const nonce = this.session.nonce;
    this.send([wire.linkHeader(wire.Link.HELLO, [wire.MAGIC, wire.LINK_VERSION, nonce, true, ""])])
      .then(() => this.later(HELLO_TIMEOUT, () => this.session && !this.session.established &&
                                                  this.session.nonce === nonce && this.probe()));
  }

  reconnect(delay) {
    const old = this.dealer;
    this.dealer = null;
    this.session = null;
    if (old) old.close();
    emit("disconnected", {});
    setTimeout(() => this.connect(), delay || 0);
  }

  later(ms, fn) {
    clearTimeout(this.timer);
    this.timer = setTimeout(fn, ms);
  }

  send(frames) {  // zeromq.js sends one message at a time: queue them
    const dealer = this.dealer;
    this.sending = this.sending.then(() => dealer && !dealer.closed ? dealer.send(frames) : null)
      .catch((err) => emit("log", { text: "send failed: " + err.message }));
    return this.sending;
  }

  sendPacket(buf) {
    return this.send([wire.linkHeader(wire.Link.DATA), buf]);
  }

  async readLoop(dealer) {
    try {
      for await (const frames of dealer) this.onLink(frames);
    } catch (err) {
      if (!dealer.closed) emit("log", { text: "receive failed: " + err.message });
    }
  }

  // -- duplicate routing ids: PROBE -----------------------------------------------------------

  async probe() {
    const probe = new zmq.Dealer({ routingId: "~szmq-probe-" + crypto.randomBytes(8).toString("hex"),
                                   linger: 0, receiveTimeout: PROBE_TIMEOUT });
    probe.connect(this.endpoint);
    const nonce = this.session.nonce;
    await probe.send(wire.linkHeader(wire.Link.PROBE, [wire.MAGIC, wire.LINK_VERSION,
                                                        Buffer.from(this.ident), nonce, ""]));
    let answer;
    try {
      answer = wire.decodeLinkHeader((await probe.receive())[0]);
    } catch (err) {
      answer = null;
    }
    probe.close();
    if (!this.session || this.session.nonce !== nonce || this.session.established) return;
    if (answer === null) return this.reconnect(0);  // the listener is not answering us
    if (answer.kind === wire.Link.REFUSE) return this.refused(answer.fields[0], answer.fields[1]);
    const [status, text] = answer.fields;
    emit("probed", { status, text });
    if (status === "duplicate") return this.refused("duplicate", text);
    if (status === "retry") return this.reconnect(0);  // a fresh connection is identified normally
    this.later(PROBE_WAIT_RETRY, () => this.session && !this.session.established && this.probe());
  }

  refused(code, text) {
    emit("refused", { code, text });
    process.exit(code === "duplicate" ? 5 : 4);
  }

  // -- link layer ----------------------------------------------------------------------------

  onLink(frames) {
    const { kind, fields } = wire.decodeLinkHeader(frames[0]);
    if (kind === wire.Link.WELCOME) {
      const [version, nonce] = fields;
      if (!this.session || Buffer.compare(Buffer.from(nonce), this.session.nonce) !== 0) return;
      if (version !== wire.LINK_VERSION) return this.refused("version", "link version " + version);
      clearTimeout(this.timer);
      this.session.established = true;
      emit("welcome", { version });
      this.sendPacket(wire.ident(this.ident, this.incarnation));
    } else if (kind === wire.Link.DATA) {
      this.onPacket(frames[1], frames[2]);
    } else if (kind === wire.Link.PING) {
      this.send([wire.linkHeader(wire.Link.PONG)]);
    } else if (kind === wire.Link.BYE) {
      this.reconnect(1000);
    } else if (kind === wire.Link.RESET) {
      this.hello();  // the listener has no session for us: a new one
    } else if (kind === wire.Link.REFUSE) {
      this.refused(fields[0], fields[1]);
    }
  }

  // -- messaging layer -----------------------------------------------------------------------

  onPacket(buf, detached) {
    const { kind, fields } = wire.decodePacket(buf);
    if (kind === wire.Messaging.IDENT) this.onIdent(fields);
    else if (kind === wire.Messaging.RESUME) this.onResume(fields);
    else if (kind === wire.Messaging.MESSAGES) this.onMessages(wire.decodeMessages(buf, detached));
    else if (kind === wire.Messaging.ACK) this.onAck(fields[0]);
    else if (kind === wire.Messaging.PING) this.sendPacket(Buffer.from([wire.Messaging.PONG]));
  }

  onIdent([version, peerIdent, incarnation]) {
    if (version !== wire.MESSAGING_VERSION) return this.refused("version", "messaging version " + version);
    this.session.peerIdent = peerIdent;
    this.session.peerIncarnation = Buffer.from(incarnation);
    emit("identified", { ident: peerIdent, version });
    const known = this.records.get(peerIdent);  // how far we delivered its stream, if we know it
    this.sendPacket(wire.resume(known, known ? known.delivered : 0, this.epoch, this.ackedUpto));
    this.told = this.ackedUpto;
  }

  onResume([knownIncarnation, knownEpoch, delivered, epoch]) {
    const session = this.session;
    const stream = { incarnation: session.peerIncarnation, epoch };
    const record = this.records.get(session.peerIdent);
    if (!record || Buffer.compare(record.incarnation, stream.incarnation) !== 0 || record.epoch !== epoch) {
      this.records.set(session.peerIdent, Object.assign(stream, { delivered: 0 }));  // a new stream
    }
    const mine = knownIncarnation !== null && Buffer.compare(Buffer.from(knownIncarnation), this.incarnation) === 0
      && knownEpoch === this.epoch;
    if (mine) this.acknowledged(delivered);  // it has those: they count as acknowledged
    session.resumed = true;
    emit("connected", { ident: session.peerIdent, delivered_by_peer: mine ? delivered : null });
    for (const message of this.unacked) this.transmit(message);  // the rest again, same numbers
  }

  onMessages({ ack: ackUpto, messages }) {
    if (ackUpto) this.acknowledged(ackUpto);
    const record = this.records.get(this.session.peerIdent);
    for (const m of messages) {
      if (m.seq <= record.delivered) continue;  // delivered before: never twice
      record.delivered = m.seq;
      emit("recv", { from: this.session.peerIdent, seq: m.seq, uuid: hex(m.uuid), ttl: m.ttl,
                     flags: m.flags, data: Buffer.from(m.data).toString("base64") });
    }
    if (!this.holdAcks && messages.length) {
      this.sendPacket(wire.ack(record.delivered, this.ackedUpto));
      this.told = this.ackedUpto;
    }
  }

  onAck(upto) {
    this.acknowledged(upto);
    const record = this.records.get(this.session.peerIdent);
    if (this.told !== this.ackedUpto && !this.holdAcks) {  // confirm: a standalone ACK
      this.sendPacket(wire.ack(record ? record.delivered : 0, this.ackedUpto));
      this.told = this.ackedUpto;
    }
  }

  acknowledged(upto) {
    const done = this.unacked.filter((m) => m.seq <= upto);
    if (!done.length) return;
    this.unacked = this.unacked.filter((m) => m.seq > upto);
    this.ackedUpto = Math.max(this.ackedUpto, upto);
    emit("acked", { upto, uuids: done.map((m) => hex(m.uuid)) });
  }

  // -- sending ---------------------------------------------------------------------------------

  queue(data, ttl, flags) {
    const message = { seq: this.nextSeq++, uuid: crypto.randomBytes(16), data, ttl, flags };
    this.unacked.push(message);
    emit("queued", { seq: message.seq, uuid: hex(message.uuid) });
    if (this.session && this.session.resumed) this.transmit(message);
  }

  transmit(message) {
    this.sendPacket(wire.messages(message.seq, [message], 0, this.ackedUpto));
    this.told = this.ackedUpto;
  }
}

function main() {
  const args = process.argv.slice(2);
  const option = (name) => args[args.indexOf(name) + 1];
  const peer = new Peer(option("--connect"), option("--ident"));
  peer.connect();
  const input = readline.createInterface({ input: process.stdin });
  input.on("line", (line) => {
    const cmd = JSON.parse(line);
    if (cmd.cmd === "send") peer.queue(Buffer.from(cmd.data, "base64"), cmd.ttl, cmd.flags || 0);
    else if (cmd.cmd === "hold_acks") peer.holdAcks = cmd.value;
    else if (cmd.cmd === "reconnect") { peer.holdAcks = false; peer.reconnect(0); }
    else if (cmd.cmd === "exit") process.exit(0);
  });
  input.on("close", () => process.exit(0));
}

main();
