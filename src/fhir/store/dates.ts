// FHIR date/dateTime/instant values are ranges at their precision: "2024" is all of 2024.
// Both the index (what a resource means) and the search (what a query means) use these ranges.
// http://hl7.org/fhir/R4/search.html#date

const DATE_RE =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

export interface DateRange {
  /** Inclusive lower bound, epoch milliseconds. */
  low: number;
  /** Inclusive upper bound, epoch milliseconds. */
  high: number;
}

/** Parses a FHIR date, dateTime or instant into its range; undefined when malformed. */
export function dateRange(value: string): DateRange | undefined {
  const m = DATE_RE.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  const year = Number(y);
  const month = mo ? Number(mo) : undefined;
  const day = d ? Number(d) : undefined;
  if (month !== undefined && (month < 1 || month > 12)) return undefined;
  if (day !== undefined && (day < 1 || day > 31)) return undefined;
  if (h !== undefined && (Number(h) > 23 || Number(mi) > 59 || (s !== undefined && Number(s) > 59))) return undefined;
  // Values without a zone are taken as UTC (the gateway's documented convention).
  const offsetMs = tz && tz !== 'Z' ? (tz[0] === '-' ? -1 : 1) * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(4, 6))) * 60000 : 0;
  if (month === undefined) return { low: Date.UTC(year, 0, 1), high: Date.UTC(year + 1, 0, 1) - 1 };
  if (day === undefined) return { low: Date.UTC(year, month - 1, 1), high: Date.UTC(year, month, 1) - 1 };
  const check = new Date(Date.UTC(year, month - 1, day));
  if (check.getUTCMonth() !== month - 1) return undefined; // e.g. 2023-02-30
  if (h === undefined) return { low: Date.UTC(year, month - 1, day), high: Date.UTC(year, month - 1, day + 1) - 1 };
  const base = Date.UTC(year, month - 1, day, Number(h), Number(mi), s ? Number(s) : 0) - offsetMs;
  if (s === undefined) return { low: base, high: base + 60000 - 1 };
  if (frac === undefined) return { low: base, high: base + 999 };
  const ms = Number(frac.slice(0, 3).padEnd(3, '0'));
  return { low: base + ms, high: base + ms };
}
