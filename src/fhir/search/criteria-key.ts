// The identity of a conditional write's search criteria (R4 http.html#ccreate, #cond-update):
// the same criteria, however the query spelled them, give the same key, so concurrent
// conditional writes on them can be serialised (Repository.lockCriteria).
import type { Filter, SearchRequest } from './search-request.js';

function filterKey(f: Filter): string {
  const name = f.modifier ? `${f.code}:${f.modifier}` : f.code;
  if (f.chain) return `${name}.${filterKey(f.chain.filter)}`;
  // Alternatives are an OR: their order does not change what matches.
  return `${name}=${[...f.values].sort().join(',')}`;
}

/**
 * `Type?a=x&b=y` with the parameters in a fixed order and the result parameters (`_count`,
 * `_sort`…) left out: they do not change which resources match.
 */
export function criteriaKey(req: SearchRequest): string {
  return `${req.resourceType}?${req.filters.map(filterKey).sort().join('&')}`;
}
