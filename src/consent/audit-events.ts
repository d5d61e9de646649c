// The AuditEvents of the audit_event table (audit.ts writes one row per disclosure), served
// through the FHIR API as a read-only type (TypeStore): read, vread and history (one version),
// search, _include and _revinclude, and bulk export. Each row is rendered as its AuditEvent
// (auditEventText) when read. The search parameters are the accounting's — by person, recipient,
// client, channel and rules, policy, export, time — answered from the row's columns; the ones
// whose value is the same on every AuditEvent the gateway writes (type, action, outcome) are
// answered from that constant. Anything else is refused (400), and the CapabilityStatement lists
// exactly these.
import { outcomes } from '../fhir/outcomes.js';
import { splitToken, unescapeValue, type Filter, type SearchRequest } from '../fhir/search/search-request.js';
import { dateCond, likeEscape, or, Params, referenceValue } from '../fhir/search/search-sql.js';
import type { Sql } from '../fhir/store/database.js';
import { normalizeString } from '../fhir/store/index-extraction.js';
import type { ExportPageQuery, StoredText, TypeStore } from '../fhir/store/type-store.js';
import { auditEventText, CHANNEL_SYSTEM, RULE_SYSTEM, type AuditEventRow } from './audit.js';

const COLUMNS = `a.id, a.recorded, a.recipient, a.client, a.purpose, a.channel, a.rules, a.policies, a.people, a.series,
  a.withheld, a.disclosed, a.resource::text AS resource`;

/** Values every AuditEvent the gateway writes has (auditEventFor). */
const CONSTANT: Record<string, { system: string; code: string }> = {
  type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' },
  action: { system: 'http://hl7.org/fhir/audit-event-action', code: 'R' },
  outcome: { system: 'http://hl7.org/fhir/audit-event-outcome', code: '0' },
};

/** `:missing=false`: the element is present. */
const PRESENT: Record<string, string> = {
  _id: 'true',
  _lastUpdated: 'true',
  date: 'true',
  patient: 'cardinality(a.people) > 0',
  entity: 'cardinality(a.people) > 0',
  agent: "a.recipient <> ''",
  altid: 'a.client IS NOT NULL',
  subtype: 'true',
  policy: 'cardinality(a.policies) > 0',
  'entity-name': 'a.series IS NOT NULL',
  type: 'true',
  action: 'true',
  outcome: 'true',
};

/**
 * The reference parameters, by the column behind them: the type they refer to, what a row refers
 * to (`_include`), and a row referring to any of the ids bound at `ids` (search, `_revinclude`).
 */
const REFERENCES: Record<string, { type: string; targets: string; refersTo: (ids: string) => string }> = {
  patient: { type: 'Patient', targets: 'a.people', refersTo: (ids) => `a.people && ${ids}::text[]` },
  entity: { type: 'Patient', targets: 'a.people', refersTo: (ids) => `a.people && ${ids}::text[]` },
  agent: { type: 'Organization', targets: 'ARRAY[a.recipient]', refersTo: (ids) => `a.recipient = ANY(${ids}::text[])` },
};

/** Ids of `type` a reference search value names (`Type/id`, an absolute URL on this base, or an id). */
function referencedIds(f: Filter, type: string, baseUrl: string): string[] {
  return f.values.flatMap((v) => {
    const ref = referenceValue(v, f.modifier, baseUrl);
    return 'id' in ref && (ref.type === undefined || ref.type === type) ? [ref.id] : [];
  });
}

/** A token value against one fixed system|code (R4 search.html#token). */
function tokenIs(v: string, system: string, code: string): boolean {
  const t = splitToken(v);
  return t.system === undefined ? t.code === code : t.system === system && (t.code === '' || t.code === code);
}

function subtypeCond(v: string, p: Params): string {
  const { system, code } = splitToken(v);
  if (system === undefined) {
    const c = p.add(code);
    return `(a.channel = ${c} OR ${c} = ANY(a.rules))`;
  }
  if (system === CHANNEL_SYSTEM) return code === '' ? 'true' : `a.channel = ${p.add(code)}`;
  if (system === RULE_SYSTEM) return code === '' ? 'cardinality(a.rules) > 0' : `${p.add(code)} = ANY(a.rules)`;
  return 'false';
}

function filterCond(f: Filter, p: Params, baseUrl: string): string {
  if (f.chain) throw outcomes.notSupported('Chained search is not supported on AuditEvent', [f.code]);
  const present = PRESENT[f.code];
  if (!present) throw outcomes.notSupported(`AuditEvent cannot be searched by ${f.code}; see the CapabilityStatement for its parameters`, [f.code]);
  if (f.modifier === 'missing') return f.values[0] === 'true' ? `NOT (${present})` : present;
  const constant = CONSTANT[f.code];
  if (constant) {
    const hit = f.values.some((v) => tokenIs(v, constant.system, constant.code));
    return String(f.modifier === 'not' ? !hit : hit);
  }
  const negate = (cond: string): string => (f.modifier === 'not' ? `NOT (${cond})` : cond);
  switch (f.code) {
    case '_id':
      return negate(`a.id = ANY(${p.add(f.values.map(unescapeValue))}::text[])`);
    case '_lastUpdated':
    case 'date':
      return or(f.values.map((v) => dateCond('a.recorded', 'a.recorded', v, p)));
    case 'patient':
    case 'entity':
    case 'agent': {
      const ref = REFERENCES[f.code];
      const ids = referencedIds(f, ref.type, baseUrl);
      return ids.length ? ref.refersTo(p.add(ids)) : 'false';
    }
    case 'altid': {
      // agent.altId is a string: only a value with no system matches it.
      const codes = f.values.map(splitToken).flatMap((t) => (t.system ? [] : [t.code]));
      // No client (NULL) matches no value, and so matches :not.
      return negate(codes.length ? `COALESCE(a.client = ANY(${p.add(codes)}::text[]), false)` : 'false');
    }
    case 'subtype':
      return negate(or(f.values.map((v) => subtypeCond(v, p))));
    case 'policy': {
      const values = f.values.map(unescapeValue);
      if (f.modifier === 'below') return `EXISTS (SELECT 1 FROM unnest(a.policies) u WHERE ${or(values.map((v) => `u LIKE ${p.add(`${likeEscape(v)}%`)}`))})`;
      return `a.policies && ${p.add(values)}::text[]`;
    }
    case 'entity-name': {
      const values = f.values.map(unescapeValue);
      if (f.modifier === 'exact') return `a.series = ANY(${p.add(values)}::text[])`;
      // Export names are ASCII (`bulk-export/<id>`): lower() normalises them as normalizeString does.
      const pattern = (v: string): string => (f.modifier === 'contains' ? `%${likeEscape(normalizeString(v))}%` : `${likeEscape(normalizeString(v))}%`);
      return or(values.map((v) => `lower(a.series) LIKE ${p.add(pattern(v))}`));
    }
  }
  throw outcomes.notSupported(`AuditEvent cannot be searched by ${f.code}`, [f.code]);
}

function whereSql(filters: Filter[], p: Params, baseUrl: string): string {
  return filters.length ? filters.map((f) => filterCond(f, p, baseUrl)).join(' AND ') : 'true';
}

function orderSql(req: SearchRequest): string {
  const parts = req.sort.map((s) => {
    const dir = s.desc ? 'DESC' : 'ASC';
    if (s.code === 'date' || s.code === '_lastUpdated') return `a.recorded ${dir}`;
    if (s.code === '_id') return `a.id ${dir}`;
    throw outcomes.notSupported(`AuditEvent cannot be sorted by ${s.code}: date, _lastUpdated or _id`, ['_sort']);
  });
  if (!req.sort.length) parts.push('a.recorded ASC');
  parts.push('a.id ASC'); // a total order: the same query pages the same way
  return parts.join(', ');
}

const text = (row: AuditEventRow): StoredText => ({ id: row.id, content: auditEventText(row) });

class AuditEventStore implements TypeStore {
  readonly resourceType = 'AuditEvent';
  readonly searchParams = Object.keys(PRESENT).filter((c) => !c.startsWith('_'));
  readonly includes = Object.keys(REFERENCES).sort();

  async read(sql: Sql, id: string): Promise<{ content: string; lastUpdated: string } | undefined> {
    const row = (await sql.query<AuditEventRow>(`SELECT ${COLUMNS} FROM audit_event a WHERE a.id = $1`, [id], { prepare: true })).rows[0];
    return row ? { content: auditEventText(row), lastUpdated: new Date(row.recorded).toISOString() } : undefined;
  }

  async search(sql: Sql, req: SearchRequest, baseUrl: string): Promise<{ matches: StoredText[]; total?: number; hasNext: boolean }> {
    const p = new Params();
    const where = whereSql(req.filters, p, baseUrl);
    const order = orderSql(req);
    let total: number | undefined;
    if (req.total !== 'none' || req.summary === 'count') {
      total = (await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_event a WHERE ${where}`, p.values)).rows[0].n;
    }
    if (req.summary === 'count') return { matches: [], total, hasNext: false };
    const values = [...p.values, req.count + 1, req.offset];
    const rows = (
      await sql.query<AuditEventRow>(`SELECT ${COLUMNS} FROM audit_event a WHERE ${where} ORDER BY ${order} LIMIT $${values.length - 1} OFFSET $${values.length}`, values)
    ).rows;
    return { matches: rows.slice(0, req.count).map(text), total, hasNext: rows.length > req.count };
  }

  async references(sql: Sql, ids: string[], param: string): Promise<{ resourceType: string; id: string }[]> {
    const ref = REFERENCES[param];
    if (!ref || !ids.length) return [];
    const rows = (await sql.query<{ id: string }>(`SELECT DISTINCT unnest(${ref.targets}) AS id FROM audit_event a WHERE a.id = ANY($1::text[])`, [ids])).rows;
    return rows.filter((r) => r.id).map((r) => ({ resourceType: ref.type, id: r.id }));
  }

  async referring(sql: Sql, param: string, targetType: string, targetIds: string[]): Promise<StoredText[]> {
    const ref = REFERENCES[param];
    if (ref?.type !== targetType || !targetIds.length) return [];
    return (await sql.query<AuditEventRow>(`SELECT ${COLUMNS} FROM audit_event a WHERE ${ref.refersTo('$1')} ORDER BY a.recorded, a.id`, [targetIds])).rows.map(text);
  }

  /**
   * A page of an export's AuditEvents: those about the job's people (bulk_export_patient),
   * recorded after `since` and not after the transaction time, matching a `_typeFilter`.
   */
  async exportPage(sql: Sql, q: ExportPageQuery): Promise<StoredText[]> {
    const p = new Params();
    const conds = [
      `a.id > ${p.add(q.afterId)}`,
      `a.recorded <= ${p.add(q.transactionTime)}::timestamptz`,
      `EXISTS (SELECT 1 FROM bulk_export_patient bp WHERE bp.job_id = ${p.add(q.jobId)} AND bp.patient_id = ANY(a.people))`,
    ];
    if (q.since) conds.push(`a.recorded > ${p.add(q.since)}::timestamptz`);
    if (q.typeFilters.length) conds.push(or(q.typeFilters.map((s) => `(${whereSql(s.filters, p, q.baseUrl)})`)));
    const rows = (await sql.query<AuditEventRow>(`SELECT ${COLUMNS} FROM audit_event a WHERE ${conds.join(' AND ')} ORDER BY a.id LIMIT ${p.add(q.limit)}`, p.values)).rows;
    return rows.map(text);
  }
}

export const auditEventStore = new AuditEventStore();
