// A resource serialised exactly as PostgreSQL's jsonb prints it back (`content::text`): object
// keys ordered by length, then bytes; `, ` between members and elements, `: ` after keys; strings
// escaped as JSON.stringify escapes them (the same set: \" \\ \b \f \n \r \t, other controls as
// lowercase \u00xx; PostgreSQL's escape_json); numbers as written. Stored in that form, a
// version's text is known when it is written — so what a reader would find by scanning it (the
// disclosure facts, src/consent/stored-resource.ts) can be found once, at write time. The store
// keeps such facts only where PostgreSQL printed the very same text (index-writer.ts compares),
// so a case this misses costs a scan at read time, never a wrong fact.
const NOT_CANONICAL = Symbol('not canonical');

/** The jsonb text of `value`; undefined where it cannot be sure (exponent numbers, non-ASCII keys). */
export function jsonbText(value: unknown): string | undefined {
  try {
    return write(value);
  } catch (e) {
    if (e === NOT_CANONICAL) return undefined;
    throw e;
  }
}

// jsonb's key order (lengthCompareJsonbString): shorter first, then memcmp — for ASCII keys, the
// order of JavaScript's string comparison.
const byJsonbOrder = (a: string, b: string): number => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);

function write(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number': {
      // numeric prints 1e-7 as 0.0000001: not worth reproducing (no FHIR value needs it).
      const s = JSON.stringify(v);
      if (s.includes('e') || s === 'null') throw NOT_CANONICAL;
      return s;
    }
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object': {
      if (v === null) return 'null';
      if (Array.isArray(v)) {
        if (!v.length) return '[]';
        let out = '[';
        for (let i = 0; i < v.length; i++) out += (i ? ', ' : '') + (v[i] === undefined ? 'null' : write(v[i]));
        return `${out}]`;
      }
      const obj = v as Record<string, unknown>;
      const keys = Object.keys(obj).filter((k) => obj[k] !== undefined);
      if (!keys.length) return '{}';
      keys.sort(byJsonbOrder);
      let out = '{';
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i];
        for (let j = 0; j < k.length; j++) if (k.charCodeAt(j) > 0x7e) throw NOT_CANONICAL;
        out += `${i ? ', ' : ''}${JSON.stringify(k)}: ${write(obj[k])}`;
      }
      return `${out}}`;
    }
    default:
      // undefined at the top, functions, bigint, symbols: not JSON.
      throw NOT_CANONICAL;
  }
}
