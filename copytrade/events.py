"""Django signals (events) copytrade sends to the apps above it, which it never imports; not
the leaders' trading signals (copytrade/services/leader_trades/)."""

from django.dispatch import Signal

# Sent with `owner` (a user) before anything opens copying of the owner's strategies: a
# strategy created, a copy started or resumed. A receiver raises core.errors.ConflictError
# when the owner may not be copied now (marketplace: a suspended provider). `creating` is
# True when a new strategy is being created (the owner's row is locked): the receiver then
# holds its answer until commit, as no strategy lock orders it against a suspension.
# `strategy` is the strategy a copy is started or resumed of (None when creating).
copying_open_requested = Signal()

# Sent with `copy` (a Copy just saved, in the copy start's transaction,
# under the strategy's row lock) and `expected_terms` (core.terms.FeeTerms the follower saw,
# or None), and `invitation` (the invitation link's token it was started with, or "").
# marketplace.receivers records the copy's fee terms and the link it came by; a receiver raises
# core.errors.ConflictError to refuse the copy (the transaction then rolls back).
copy_starting = Signal()

# Sent with `strategy` (not listed) and `token` (what a follower holds): a receiver returns
# True when the token is a valid invitation to see and copy that strategy (marketplace's
# invitation links). No receiver answering True: the strategy is not found for them.
invitation_accepts = Signal()
