// Turns a SearchRequest into parameterised SQL over the resource and index tables. Pure: no
// database access. Every value reaches PostgreSQL as a bind parameter, never as SQL text.
import { dateRange } from '../store/dates.js';
import { normalizeString, parseReference } from '../store/index-extraction.js';
import { outcomes } from '../outcomes.js';
import { splitPipes, splitPrefix, splitToken, unescapeValue, type Filter, type Prefix, type SearchRequest } from './search-request.js';

export class Params {
  readonly values: unknown[] = [];
  add(v: unknown): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }
}

const INDEX_TABLE: Record<string, string> = {
  token: 'idx_token',
  string: 'idx_string',
  date: 'idx_date',
  reference: 'idx_reference',
  number: 'idx_number',
  quantity: 'idx_number',
  uri: 'idx_uri',
};

let aliasSeq = 0;
const nextAlias = (): string => `i${++aliasSeq % 1000}`;

/** Escapes LIKE wildcards so a value like "50%_off" matches itself. */
export const likeEscape = (s: string): string => s.replace(/[\\%_]/g, (c) => `\\${c}`);

function exists(table: string, owner: string, p: Params, param: string, cond: string, a: string): string {
  return `EXISTS (SELECT 1 FROM ${table} ${a} WHERE ${a}.resource_type = ${owner}.resource_type AND ${a}.id = ${owner}.id AND ${a}.param = ${p.add(param)}${cond ? ` AND (${cond})` : ''})`;
}

export function filterSql(f: Filter, owner: string, p: Params, baseUrl: string): string {
  if (f.chain) {
    const a = nextAlias();
    const t = nextAlias();
    const inner = filterSql(f.chain.filter, t, p, baseUrl);
    return exists(
      'idx_reference',
      owner,
      p,
      f.code,
      `${a}.target_type = ${p.add(f.chain.targetType)} AND EXISTS (SELECT 1 FROM resource ${t} WHERE ${t}.resource_type = ${a}.target_type AND ${t}.id = ${a}.target_id AND NOT ${t}.deleted AND ${inner})`,
      a,
    );
  }
  if (f.type === 'id') {
    const cond = `${owner}.id = ANY(${p.add(f.values.map(unescapeValue))}::text[])`;
    return f.modifier === 'not' ? `NOT (${cond})` : cond;
  }
  if (f.type === 'lastUpdated') {
    return or(f.values.map((v) => dateCond(`${owner}.last_updated`, `${owner}.last_updated`, v, p)));
  }
  const table = INDEX_TABLE[f.type];
  if (!table) throw outcomes.badRequest(`Search on ${f.code} is not supported`);
  const a = nextAlias();
  if (f.modifier === 'missing') {
    const any = exists(table, owner, p, f.code, '', a);
    return f.values[0] === 'true' ? `NOT ${any}` : any;
  }
  const conds = f.values.map((v) => valueCond(f, a, v, p, baseUrl));
  if (f.modifier === 'not') return `NOT ${exists(table, owner, p, f.code, or(conds), a)}`;
  return exists(table, owner, p, f.code, or(conds), a);
}

/**
 * What a reference search value names: a resource (`Type/id`, also as an absolute URL on this
 * base), an id alone (of the type modifier's type when there is one: `type` undefined otherwise),
 * or anything else by URL.
 */
export function referenceValue(v: string, modifier: string | undefined, baseUrl: string): { type?: string; id: string } | { url: string } {
  const raw = unescapeValue(v);
  const local = raw.startsWith(`${baseUrl}/`) ? raw.slice(baseUrl.length + 1) : raw;
  const parsed = /^https?:|^urn:/.test(local) ? undefined : parseReference(local);
  if (parsed) return { type: parsed.type, id: parsed.id };
  if (/^[A-Za-z0-9\-.]{1,64}$/.test(local)) return { type: modifier && modifier !== 'missing' ? modifier : undefined, id: local };
  return { url: raw };
}

export const or = (conds: string[]): string => (conds.length === 1 ? conds[0] : `(${conds.map((c) => `(${c})`).join(' OR ')})`);

function valueCond(f: Filter, a: string, v: string, p: Params, baseUrl: string): string {
  switch (f.type) {
    case 'token': {
      const { system, code } = splitToken(v);
      if (system === undefined) return `${a}.code = ${p.add(code)}`;
      if (system === '') return `${a}.system IS NULL AND ${a}.code = ${p.add(code)}`;
      if (code === '') return `${a}.system = ${p.add(system)}`;
      return `${a}.system = ${p.add(system)} AND ${a}.code = ${p.add(code)}`;
    }
    case 'string': {
      const raw = unescapeValue(v);
      if (f.modifier === 'exact') return `${a}.exact = ${p.add(raw)}`;
      const norm = likeEscape(normalizeString(raw));
      if (f.modifier === 'contains') return `${a}.norm LIKE ${p.add(`%${norm}%`)}`;
      return `${a}.norm LIKE ${p.add(`${norm}%`)}`;
    }
    case 'uri': {
      const raw = unescapeValue(v);
      if (f.modifier === 'below') return `${a}.value LIKE ${p.add(`${likeEscape(raw)}%`)}`;
      return `${a}.value = ${p.add(raw)}`;
    }
    case 'reference': {
      const ref = referenceValue(v, f.modifier, baseUrl);
      if ('url' in ref) return `${a}.url = ${p.add(ref.url)}`;
      return `${ref.type === undefined ? '' : `${a}.target_type = ${p.add(ref.type)} AND `}${a}.target_id = ${p.add(ref.id)}`;
    }
    case 'date':
      return dateCond(`${a}.low`, `${a}.high`, v, p);
    case 'number':
    case 'quantity':
      return numberCond(f, a, v, p);
  }
  throw outcomes.badRequest(`Search on ${f.code} is not supported`);
}

export function dateCond(lowCol: string, highCol: string, v: string, p: Params): string {
  const { prefix, rest } = splitPrefix(v);
  const range = dateRange(rest);
  if (!range) throw outcomes.badRequest(`"${v}" is not a valid date`);
  // Bind only the bounds a prefix uses: PostgreSQL rejects a parameter it never sees.
  const sLow = (): string => `${p.add(new Date(range.low).toISOString())}::timestamptz`;
  const sHigh = (): string => `${p.add(new Date(range.high).toISOString())}::timestamptz`;
  const low = `COALESCE(${lowCol}, '-infinity'::timestamptz)`;
  const high = `COALESCE(${highCol}, 'infinity'::timestamptz)`;
  // R4 search.html#prefix: comparisons between the range of the value and of the parameter.
  const byPrefix: Record<Prefix, () => string> = {
    eq: () => `${low} >= ${sLow()} AND ${high} <= ${sHigh()}`,
    ne: () => `NOT (${low} >= ${sLow()} AND ${high} <= ${sHigh()})`,
    gt: () => `${high} > ${sHigh()}`,
    lt: () => `${low} < ${sLow()}`,
    ge: () => `${high} >= ${sLow()}`,
    le: () => `${low} <= ${sHigh()}`,
    sa: () => `${low} > ${sHigh()}`,
    eb: () => `${high} < ${sLow()}`,
    ap: () => `${low} <= ${sHigh()} AND ${high} >= ${sLow()}`,
  };
  return byPrefix[prefix]();
}

function numberCond(f: Filter, a: string, raw: string, p: Params): string {
  const { prefix, rest } = splitPrefix(raw);
  const [num, system, code] = splitPipes(rest);
  const value = Number(num);
  // Implicit range from the precision given: 5.4 means [5.35, 5.45) (R4 search.html#number).
  const decimals = num.includes('.') ? num.split('.')[1].replace(/[eE].*/, '').length : 0;
  const half = 0.5 * 10 ** -decimals;
  const lo = (): string => `${p.add(String(value - half))}::numeric`;
  const hi = (): string => `${p.add(String(value + half))}::numeric`;
  const exact = (): string => `${p.add(num)}::numeric`;
  const v = `${a}.value`;
  const byPrefix: Record<Prefix, () => string> = {
    eq: () => `${v} >= ${lo()} AND ${v} < ${hi()}`,
    ne: () => `NOT (${v} >= ${lo()} AND ${v} < ${hi()})`,
    gt: () => `${v} > ${exact()}`,
    lt: () => `${v} < ${exact()}`,
    ge: () => `${v} >= ${exact()}`,
    le: () => `${v} <= ${exact()}`,
    sa: () => `${v} > ${exact()}`,
    eb: () => `${v} < ${exact()}`,
    ap: () => `${v} >= ${p.add(String(value - Math.abs(value) * 0.1))}::numeric AND ${v} <= ${p.add(String(value + Math.abs(value) * 0.1))}::numeric`,
  };
  let cond = byPrefix[prefix]();
  if (f.type === 'quantity') {
    if (system) cond += ` AND ${a}.system = ${p.add(system)}`;
    if (code) cond += ` AND ${a}.code = ${p.add(code)}`;
  }
  return cond;
}

function sortSql(req: SearchRequest, p: Params): string {
  const parts = req.sort.map((s) => {
    const dir = s.desc ? 'DESC' : 'ASC';
    if (s.code === '_id') return `r.id ${dir}`;
    if (s.code === '_lastUpdated') return `r.last_updated ${dir}`;
    const table = INDEX_TABLE[s.type];
    const col = { token: 'code', string: 'norm', date: s.desc ? 'high' : 'low', reference: 'target_id', number: 'value', quantity: 'value', uri: 'value' }[s.type];
    if (!table || !col) throw outcomes.badRequest(`Cannot sort by ${s.code}`);
    const agg = s.desc ? 'max' : 'min';
    return `(SELECT ${agg}(x.${col}) FROM ${table} x WHERE x.resource_type = r.resource_type AND x.id = r.id AND x.param = ${p.add(s.code)}) ${dir} NULLS LAST`;
  });
  // A total order (id last) keeps pages stable: the same query pages the same way.
  if (!req.sort.length) parts.push('r.last_updated ASC');
  parts.push('r.id ASC');
  return parts.join(', ');
}

export interface SqlQuery {
  text: string;
  values: unknown[];
}

function whereSql(req: SearchRequest, p: Params, baseUrl: string): string {
  const conds = [`r.resource_type = ${p.add(req.resourceType)}`, 'NOT r.deleted'];
  for (const f of req.filters) conds.push(filterSql(f, 'r', p, baseUrl));
  return conds.join(' AND ');
}

/** The page of matches: id, stored JSON text and its disclosure facts. */
export function searchPageSql(req: SearchRequest, baseUrl: string): SqlQuery {
  const p = new Params();
  const where = whereSql(req, p, baseUrl);
  const order = sortSql(req, p);
  // One extra row tells whether a next page exists without counting.
  const text = `SELECT r.id, r.content::text AS content, r.disclosure_facts AS facts FROM resource r WHERE ${where} ORDER BY ${order} LIMIT ${p.add(req.count + 1)} OFFSET ${p.add(req.offset)}`;
  return { text, values: p.values };
}

export function searchCountSql(req: SearchRequest, baseUrl: string): SqlQuery {
  const p = new Params();
  const where = whereSql(req, p, baseUrl);
  return { text: `SELECT count(*)::int AS n FROM resource r WHERE ${where}`, values: p.values };
}
