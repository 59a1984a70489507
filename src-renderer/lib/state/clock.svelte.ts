/**
 * A coarse clock for "stalled" and "time ago" displays: `now` ticks once a second while some
 * screen holds it (`hold()` returns the release), so idle screens cost no timers.
 */
class ClockState {
  now = $state(Date.now());
  #holders = 0;
  #timer: ReturnType<typeof setInterval> | null = null;

  /** Starts ticking; call the returned function to stop holding. */
  hold(): () => void {
    this.#holders++;
    if (this.#timer === null) this.#timer = setInterval(() => (this.now = Date.now()), 1000);
    return () => {
      this.#holders = Math.max(0, this.#holders - 1);
      if (this.#holders === 0 && this.#timer !== null) {
        clearInterval(this.#timer);
        this.#timer = null;
      }
    };
  }
}

export const clock = new ClockState();
