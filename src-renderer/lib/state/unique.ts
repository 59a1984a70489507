/** The values of `items` without repeats, in first-seen order. */
export function unique<T>(items: readonly T[]): T[] {
  return items.filter((item, index) => items.indexOf(item) === index);
}
