// The arxi browser verifier's page logic: reads the chosen files, hands the
// bundle to the worker, shows its progress and the report (verdict,
// findings, segments and seals), and browses the records with downloads of
// attachments cut straight out of the chosen file. It judges nothing itself.
'use strict';

const $ = (id) => document.getElementById(id);
const PAGE_RECORDS = 50;
const worker = new Worker(URL.createObjectURL(new Blob([$('worker-source').textContent], { type: 'text/javascript' })));
const state = { file: null, pages: [], pageIndex: 0, token: 0, lastEnvelope: null, attachmentIndex: 0, recordIndex: 0 };

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text === null || text === undefined ? '' : String(text);
  if (className) td.className = className;
  return td;
}

function ready() {
  $('verify').disabled = !($('bundle-file').files.length && ($('key-files').files.length || $('key-text').value.trim()));
}
for (const id of ['bundle-file', 'key-files', 'key-text']) $(id).addEventListener('input', ready);

async function trustedKeys() {
  const parts = [$('key-text').value];
  for (const file of $('key-files').files) parts.push(await file.text());
  return parts.join('\n');
}

$('verify').addEventListener('click', async () => {
  state.file = $('bundle-file').files[0];
  $('result').hidden = true;
  $('status').hidden = false;
  $('progress').value = 0;
  $('progress-text').textContent = 'verifying ' + state.file.name + ' …';
  document.body.dataset.state = 'verifying';
  delete document.body.dataset.verdict;
  worker.postMessage({ op: 'verify', file: state.file, keys: await trustedKeys() });
});

worker.onmessage = (event) => {
  const message = event.data;
  if (message.op === 'progress') {
    $('progress').value = Math.round(1000 * message.bytes / Math.max(1, message.total));
    $('progress-text').textContent = `${message.envelopes} envelopes, ${message.seals} seals, ` +
      `${(message.bytes / 1e6).toFixed(1)} of ${(message.total / 1e6).toFixed(1)} MB`;
  } else if (message.op === 'verified') {
    showReport(message);
  } else if (message.op === 'records') {
    if (message.token === state.token) showRecords(message.page);
  } else if (message.op === 'version') {
    $('version').textContent = 'arxi verifier ' + message.version;
  } else if (message.op === 'error') {
    $('progress-text').textContent = 'error: ' + message.message;
    document.body.dataset.state = 'error';
  }
};
worker.postMessage({ op: 'version' });

function showReport({ report, summary, verifiedMs, bytes }) {
  $('progress').value = 1000;
  const seconds = verifiedMs / 1000;
  $('progress-text').textContent = `done in ${seconds.toFixed(2)} s (${(bytes / 1e6 / Math.max(seconds, 1e-3)).toFixed(1)} MB/s)`;
  document.body.dataset.verifyMs = String(verifiedMs);
  const verdict = $('verdict');
  const codes = report.codes || [];
  verdict.dataset.codes = codes.join(',');
  $('codes').textContent = codes.length ? 'Finding codes: ' + codes.join(', ') : '';
  if (report.error) {
    verdict.textContent = 'COULD NOT CHECK';
    verdict.className = 'unchecked';
    document.body.dataset.verdict = 'could_not_check';
    $('verdict-detail').textContent = report.error;
  } else {
    const valid = report.valid;
    verdict.textContent = valid ? 'VALID' : report.could_not_check ? 'COULD NOT CHECK' : 'INVALID';
    verdict.className = valid ? 'valid' : report.could_not_check ? 'unchecked' : 'invalid';
    document.body.dataset.verdict = valid ? 'valid' : report.could_not_check ? 'could_not_check' : 'invalid';
    const checked = report.checked;
    $('verdict-detail').textContent = valid
      ? `${state.file.name}: recorder "${report.recorder_id}", envelopes ${report.first_seq} to ${report.last_seq} ` +
        `(${checked.envelopes} envelopes, ${checked.seals} seals, ${checked.attachments} attachments, ${checked.bytes} bytes): ` +
        'every hash, signature, chain link, seal and the bundle signature verified.'
      : `${state.file.name}: ${report.findings.length + report.findings_dropped} finding(s)` +
        (report.first_bad_record ? `; the first bad record is record ${report.first_bad_record.record}` : '') + '.';
  }
  showFindings(report);
  showSegments(summary);
  $('result').hidden = false;
  state.pages = [null];
  state.pageIndex = 0;
  state.lastEnvelope = null;
  requestPage();
  document.body.dataset.state = 'done';
}

function showFindings(report) {
  const body = $('findings').tBodies[0];
  body.replaceChildren();
  const findings = report.findings || [];
  $('findings-block').hidden = findings.length === 0;
  for (const finding of findings) {
    const row = body.insertRow();
    cell(row, finding.code);
    cell(row, finding.record);
    cell(row, finding.segment_id);
    cell(row, finding.seq);
    cell(row, finding.message);
    cell(row, finding.expected, 'hash');
    cell(row, finding.found, 'hash');
  }
  $('findings-dropped').textContent = report.findings_dropped ? `… and ${report.findings_dropped} more not listed` : '';
}

function showSegments(summary) {
  const body = $('segments').tBodies[0];
  body.replaceChildren();
  const segments = (summary.manifest && summary.manifest.segments) || [];
  for (const segment of segments) {
    const row = body.insertRow();
    cell(row, segment.segment_id);
    cell(row, segment.first_seq);
    cell(row, segment.last_seq);
    cell(row, segment.count);
    cell(row, segment.merkle_root, 'hash');
    cell(row, segment.seal_hash, 'hash');
  }
}

function requestPage() {
  state.token += 1;
  worker.postMessage({ op: 'records', file: state.file, offset: state.pages[state.pageIndex], count: PAGE_RECORDS, token: state.token });
}

$('next').addEventListener('click', () => { state.pageIndex += 1; requestPage(); });
$('previous').addEventListener('click', () => { state.pageIndex = Math.max(0, state.pageIndex - 1); requestPage(); });
$('envelopes-only').addEventListener('change', () => requestPage());

function showRecords(page) {
  const body = $('records').tBodies[0];
  body.replaceChildren();
  const onlyEnvelopes = $('envelopes-only').checked;
  // Records are numbered from 0 (the manifest), as the report numbers them.
  let index = state.pageIndex * PAGE_RECORDS - 1;
  for (const record of page.records) {
    index += 1;
    if (record.kind === 'envelope') {
      state.lastEnvelope = parse(record.text);
      state.attachmentIndex = 0;
    }
    if (onlyEnvelopes && record.kind !== 'envelope' && record.kind !== 'attachment') continue;
    const row = body.insertRow();
    row.dataset.kind = record.kind;
    cell(row, index);
    cell(row, record.kind);
    const value = record.kind === 'attachment' ? null : parse(record.text);
    cell(row, value && value.seq);
    cell(row, value && value.type);
    cell(row, value && value.received_at);
    const detail = row.insertCell();
    if (record.kind === 'attachment') {
      detail.append(downloadLink(record));
    } else if (record.text === undefined) {
      detail.textContent = `${record.length} bytes (too large to show here)`;
    } else {
      const details = document.createElement('details');
      const summaryLine = document.createElement('summary');
      summaryLine.textContent = `${record.length} bytes`;
      const pre = document.createElement('pre');
      pre.textContent = value ? JSON.stringify(value, null, 2) : record.text;
      details.append(summaryLine, pre);
      detail.append(details);
    }
  }
  $('page-text').textContent = `records ${state.pageIndex * PAGE_RECORDS} to ${index}` + (page.error ? ` (stopped: ${page.error})` : '');
  $('previous').disabled = state.pageIndex === 0;
  $('next').disabled = page.next_offset === null;
  if (page.next_offset !== null) state.pages[state.pageIndex + 1] = page.next_offset;
}

function parse(text) {
  try { return JSON.parse(text); } catch { return null; }
}

function downloadLink(record) {
  const references = (state.lastEnvelope && state.lastEnvelope.attachments) || [];
  const reference = references[state.attachmentIndex] || {};
  state.attachmentIndex += 1;
  const name = (reference.name || `attachment-at-${record.payload_offset}.bin`).replace(/[\\/]/g, '_');
  const link = document.createElement('a');
  link.textContent = `download ${name} (${record.length} bytes${reference.media_type ? ', ' + reference.media_type : ''})`;
  link.download = name;
  link.href = URL.createObjectURL(state.file.slice(record.payload_offset, record.payload_offset + record.length,
    'application/octet-stream'));
  link.className = 'attachment';
  return link;
}
