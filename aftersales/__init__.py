"""After-sales case system: pure domain rules (calendar, ladders, approvals, case machines) and the
shared infrastructure (settings, read-model database, logging) used by workflows, activities and api."""
