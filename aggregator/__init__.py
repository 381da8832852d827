"""aggregator: one shared agenda for the digital collectives of Brittany."""
