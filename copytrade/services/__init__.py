"""copytrade's writes, by concern:

- `strategies`: leaders' strategies; `copies`: copies (start, stop, pause...);
- `leader_trades`: signals in (webhook, REST) and recording a leader trade;
  `exchange_sync`: leader fills read from the leader's exchange account;
- `fanout`: one copied trade per eligible copy, one execution task each;
- `execution`: one copied trade, load -> claim -> size -> risk -> place or reconcile -> record;
- `platform_closes`: stop-loss and stop-with-close; `sweeper`: what was left behind;
  `marking`: copies marked to market between fills (copy stop-loss).
"""
