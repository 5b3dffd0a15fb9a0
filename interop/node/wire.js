// The snakezmq wire protocol (docs/protocol.md), encode and decode only: no sockets.
"use strict";

const { encode, decode } = require("@msgpack/msgpack");

const MAGIC = "SZMQ";
const LINK_VERSION = 1;
const MESSAGING_VERSION = 2;

// Link layer: the first frame after the routing id is one kind byte, then for some
// kinds a msgpack array of fields.
const Link = { HELLO: 0x01, WELCOME: 0x02, REFUSE: 0x03, PING: 0x04, PONG: 0x05, BYE: 0x06,
               PROBE: 0x07, PROBED: 0x08, RESET: 0x09, DATA: 0x10, PART: 0x11 };
// Messaging layer: the packet inside a link DATA, one kind byte then the kind's encoding.
const Messaging = { IDENT: 0x01, MESSAGES: 0x02, ACK: 0x03, PING: 0x04, PONG: 0x05, RESUME: 0x06 };

function linkHeader(kind, fields) {
  const kindByte = Buffer.from([kind]);
  return fields === undefined ? kindByte : Buffer.concat([kindByte, Buffer.from(encode(fields))]);
}

function decodeLinkHeader(frame) {
  if (frame.length === 0) throw new Error("empty header frame");
  const fields = frame.length > 1 ? decode(frame.subarray(1)) : [];
  if (!Array.isArray(fields)) throw new Error("link fields must be an array");
  return { kind: frame[0], fields };
}

function packet(kind, fields) {
  return Buffer.concat([Buffer.from([kind]), Buffer.from(encode(fields))]);
}

const ident = (name, incarnation) => packet(Messaging.IDENT, [MESSAGING_VERSION, name, incarnation]);

// RESUME: [known_incarnation | nil, known_epoch, delivered, epoch, confirmed, restoring]
const resume = (known, delivered, epoch, confirmed) =>
  packet(Messaging.RESUME, [known ? known.incarnation : null, known ? known.epoch : 0, delivered,
                            epoch, confirmed, false]);

// ACK: [upto_seq, confirmed, restoring]
const ack = (upto, confirmed) => packet(Messaging.ACK, [upto, confirmed, false]);

// MESSAGES: kind, !I header length, msgpack header, then the payloads back to back.
// header: [first_seq, ack, uuids, ttls, flags, lengths, confirmed, restoring]
function messages(firstSeq, list, ackUpto, confirmed) {
  const header = Buffer.from(encode([firstSeq, ackUpto, list.map((m) => m.uuid), list.map((m) => m.ttl),
                                     list.map((m) => m.flags), list.map((m) => m.data.length),
                                     confirmed, false]));
  const length = Buffer.alloc(4);
  length.writeUInt32BE(header.length);
  return Buffer.concat([Buffer.from([Messaging.MESSAGES]), length, header, ...list.map((m) => m.data)]);
}

// A MESSAGES packet; `detached`: the payload of its one message, sent as a frame of its own.
function decodeMessages(buf, detached) {
  const headerLength = buf.readUInt32BE(1);
  const start = 5;
  const header = decode(buf.subarray(start, start + headerLength));
  const [firstSeq, ackUpto, uuids, ttls, flags, lengths, confirmed, restoring] = header;
  let payload = buf.subarray(start + headerLength);
  if (detached !== undefined) payload = detached;
  const out = [];
  let offset = 0;
  for (let i = 0; i < uuids.length; i++) {
    out.push({ seq: firstSeq + i, uuid: Buffer.from(uuids[i]), ttl: ttls[i], flags: flags[i],
               data: payload.subarray(offset, offset + lengths[i]) });
    offset += lengths[i];
  }
  if (offset !== payload.length) throw new Error("MESSAGES: lengths do not add up to the payload");
  return { ack: ackUpto, confirmed, restoring, messages: out };
}

function decodePacket(buf) {
  const kind = buf[0];
  if (kind === Messaging.MESSAGES || buf.length === 1) return { kind, fields: [] };
  return { kind, fields: decode(buf.subarray(1)) };
}

module.exports = { MAGIC, LINK_VERSION, MESSAGING_VERSION, Link, Messaging, linkHeader, decodeLinkHeader,
                   ident, resume, ack, messages, decodeMessages, decodePacket };
