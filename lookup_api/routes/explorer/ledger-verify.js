// credtrace: check a ledger entry's inclusion in the log with the browser's own code.
//
// RFC 9162 §2.1: leaf hash SHA-256(0x00 || leaf input), node hash SHA-256(0x01 || l || r);
// the root is recomputed from the audit path (§2.1.3.2) with WebCrypto and compared with
// the root of the signed checkpoint (a C2SP tlog-checkpoint signed note), whose Ed25519
// signature is checked too where WebCrypto has Ed25519. Indices are BigInts: a log index
// may be as large as 2^64 - 1. Nothing here trusts the page that loaded it: it fetches
// the checkpoint, the key and the proof from the log's public routes itself.
"use strict";
(function (global) {
  const HASH_SIZE = 32;
  const encoder = new TextEncoder();

  function fromBase64(text, what) {
    if (typeof text !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4) {
      throw new Error(what + " is not standard base64");
    }
    const raw = atob(text);
    const out = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  function toBase64(bytes) {
    let raw = "";
    for (const b of bytes) raw += String.fromCharCode(b);
    return btoa(raw);
  }

  function toHex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function equal(a, b) {
    if (a.length !== b.length) return false;
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
    return diff === 0;
  }

  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }

  function leafHash(leafInput) {
    return sha256(concat(Uint8Array.of(0), leafInput));
  }

  function nodeHash(left, right) {
    return sha256(concat(Uint8Array.of(1), left, right));
  }

  function checkHash(bytes, what) {
    if (!(bytes instanceof Uint8Array) || bytes.length !== HASH_SIZE) {
      throw new Error(what + " must be " + HASH_SIZE + " bytes, got " + (bytes ? bytes.length : 0));
    }
  }

  function bitLength(n) {
    return n === 0n ? 0 : n.toString(2).length;
  }

  // The root that an audit path puts leaf `index` under, in a tree of `size` leaves.
  async function rootFromInclusionProof(index, size, leaf, proof) {
    index = BigInt(index);
    size = BigInt(size);
    if (size === 0n) throw new Error("an empty tree includes no leaf");
    if (index < 0n || index >= size) {
      throw new Error("leaf index " + index + " is outside a tree of size " + size);
    }
    checkHash(leaf, "leaf hash");
    let fn = index;
    let sn = size - 1n;
    let r = leaf;
    for (let i = 0; i < proof.length; i++) {
      const p = proof[i];
      checkHash(p, "proof[" + i + "]");
      if (sn === 0n) {
        throw new Error("proof is too long: expected " + i + " hashes, got " + proof.length);
      }
      if ((fn & 1n) === 1n || fn === sn) {
        r = await nodeHash(p, r);
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      } else {
        r = await nodeHash(r, p);
      }
      fn >>= 1n;
      sn >>= 1n;
    }
    if (sn !== 0n) {
      throw new Error(
        "proof is too short: expected " + (proof.length + bitLength(sn)) +
          " hashes, got " + proof.length,
      );
    }
    return r;
  }

  // Throws unless `proof` puts `leaf` at `index` in the tree (`size`, `root`).
  async function verifyInclusion(index, size, leaf, proof, root) {
    checkHash(root, "root");
    const got = await rootFromInclusionProof(index, size, leaf, proof);
    if (!equal(got, root)) {
      throw new Error("expected root " + toBase64(root) + " got " + toBase64(got));
    }
  }

  // A C2SP signed note: its text (up to and including the blank line's first newline)
  // and its signature lines.
  function splitNote(note) {
    const cut = note.lastIndexOf("\n\n");
    if (cut < 0) throw new Error("the signed note has no blank line before its signatures");
    const text = note.slice(0, cut + 1);
    const signatures = note
      .slice(cut + 2)
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => {
        const m = /^\u2014 (\S+) (\S+)$/.exec(line);
        if (!m) throw new Error("malformed signature line");
        const raw = fromBase64(m[2], "signature");
        if (raw.length < 5) throw new Error("signature by " + m[1] + " is too short");
        return { name: m[1], keyId: raw.slice(0, 4), signature: raw.slice(4) };
      });
    return { text, signatures };
  }

  function parseCheckpoint(note) {
    const { text, signatures } = splitNote(note);
    const lines = text.split("\n");
    if (lines.length < 4) throw new Error("the checkpoint needs origin, size and root lines");
    if (!/^(0|[1-9][0-9]*)$/.test(lines[1])) throw new Error("the checkpoint size is not decimal");
    const root = fromBase64(lines[2], "checkpoint root");
    checkHash(root, "checkpoint root");
    return { origin: lines[0], size: BigInt(lines[1]), root, text, signatures };
  }

  // A C2SP verifier key: name+hexkeyid+base64(0x01 || Ed25519 public key).
  function parseVerifierKey(vkey) {
    // The name and the key id hold no "+"; the base64 key may.
    const parts = /^([^+\s]+)\+([0-9a-f]{8})\+(\S+)$/.exec(vkey.trim());
    if (!parts) throw new Error("the verifier key is not name+keyid+key");
    const raw = fromBase64(parts[3], "verifier key");
    if (raw.length !== 33 || raw[0] !== 1) throw new Error("the verifier key is not Ed25519");
    return { name: parts[1], keyIdHex: parts[2], publicKey: raw.slice(1) };
  }

  // Whether `vkey` signed the note (a splitNote or parseCheckpoint result): true or
  // false; null where this browser's WebCrypto has no Ed25519.
  async function verifyCheckpointSignature(checkpoint, vkey) {
    const key = parseVerifierKey(vkey);
    const wantId = (await sha256(concat(encoder.encode(key.name + "\n"), Uint8Array.of(1), key.publicKey)))
      .slice(0, 4);
    if (toHex(wantId) !== key.keyIdHex) throw new Error("the verifier key's id does not match it");
    const line = checkpoint.signatures.find(
      (s) => s.name === key.name && toHex(s.keyId) === key.keyIdHex,
    );
    if (!line) return false;
    let publicKey;
    try {
      publicKey = await crypto.subtle.importKey("raw", key.publicKey, { name: "Ed25519" }, false, [
        "verify",
      ]);
    } catch (err) {
      return null;
    }
    return crypto.subtle.verify(
      { name: "Ed25519" },
      publicKey,
      line.signature,
      encoder.encode(checkpoint.text),
    );
  }

  // Pure check, no fetching: `entry` {index, leaf_input (base64)}, the signed checkpoint
  // note, its verifier key line (or null), and an inclusion proof as the log serves it
  // ({leaf_index, tree_size, leaf_hash, audit_path}). Returns a result, never throws.
  async function checkEntry(entry, checkpointNote, verifierKey, proof) {
    const result = { ok: false, index: String(entry.index), size: null, root: null };
    try {
      const checkpoint = parseCheckpoint(checkpointNote);
      result.size = String(checkpoint.size);
      result.root = toBase64(checkpoint.root);
      result.signature = verifierKey ? await verifyCheckpointSignature(checkpoint, verifierKey) : null;
      if (result.signature === false) {
        throw new Error("the checkpoint's signature does not verify against the log's key");
      }
      if (BigInt(proof.tree_size) !== checkpoint.size) {
        throw new Error("expected a proof for tree size " + checkpoint.size + " got " + proof.tree_size);
      }
      if (BigInt(proof.leaf_index) !== BigInt(entry.index)) {
        throw new Error("expected a proof for entry " + entry.index + " got " + proof.leaf_index);
      }
      const leaf = await leafHash(fromBase64(entry.leaf_input, "leaf input"));
      result.leafHash = toBase64(leaf);
      if (proof.leaf_hash !== undefined && proof.leaf_hash !== result.leafHash) {
        throw new Error("expected leaf hash " + result.leafHash + " got " + proof.leaf_hash);
      }
      const path = proof.audit_path.map((h, i) => fromBase64(h, "audit_path[" + i + "]"));
      await verifyInclusion(entry.index, checkpoint.size, leaf, path, checkpoint.root);
      result.ok = true;
    } catch (err) {
      result.error = err.message;
    }
    return result;
  }

  async function fetchText(url) {
    const response = await fetch(url, { credentials: "omit", cache: "no-store" });
    if (!response.ok) throw new Error(url + " answered " + response.status);
    return response.text();
  }

  // Fetch the latest signed checkpoint, the log's key and the entry's proof at that
  // checkpoint's size from the public routes, then check.
  async function fetchAndCheck(entry, base) {
    base = base || "";
    try {
      const note = await fetchText(base + "/checkpoint");
      const size = parseCheckpoint(note).size;
      const vkey = await fetchText(base + "/v1/ledger/key");
      const proof = JSON.parse(
        await fetchText(
          base + "/v1/ledger/proof/inclusion?index=" + entry.index + "&tree_size=" + size,
        ),
      );
      return await checkEntry(entry, note, vkey, proof);
    } catch (err) {
      return { ok: false, index: String(entry.index), error: err.message };
    }
  }

  // What the page shows: filled into the element marked data-verify-entry.
  function describe(result, words) {
    if (result.ok) {
      const signed =
        result.signature === true ? words.signed : result.signature === null ? words.unsigned : "";
      return words.ok.replace("{size}", result.size).replace("{root}", result.root) + signed;
    }
    return words.failed.replace("{error}", result.error);
  }

  async function run(element) {
    const words = JSON.parse(element.dataset.words);
    element.textContent = words.checking;
    const result = await fetchAndCheck({
      index: element.dataset.verifyEntry,
      leaf_input: element.dataset.leafInput,
    });
    element.textContent = describe(result, words);
    element.className = result.ok ? "verified" : "failed";
    element.dataset.result = result.ok ? "verified" : "failed";
    return result;
  }

  global.LedgerVerify = {
    fromBase64,
    toBase64,
    leafHash,
    rootFromInclusionProof,
    verifyInclusion,
    splitNote,
    parseCheckpoint,
    verifyCheckpointSignature,
    checkEntry,
    fetchAndCheck,
    describe,
    run,
  };

  if (global.document) {
    const start = () => {
      const element = document.querySelector("[data-verify-entry]");
      if (element) global.LedgerVerify.done = run(element);
    };
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
    else start();
  }
})(globalThis);
