from django.dispatch import Signal

# Sent inside each delete batch's transaction, before its leads are deleted, with
# sender=Lead, business=Business and lead_ids=list[int]. A receiver returns the set of
# ids that must NOT be deleted now (e.g. leads in a call that is dialing or in
# progress) and takes care of its own rows that point at the others (e.g. cancels their
# queued calls), so that the leads can then be deleted with one plain DELETE. A model
# with a foreign key to Lead needs such a receiver: nothing else detaches its rows, and
# the key's check at commit fails the batch (tests/leads/test_bulk_jobs.py lists them).
lead_batch_pre_delete = Signal()
