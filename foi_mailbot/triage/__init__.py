"""Everything a person must decide, settled by email: items, notices, commands, confirmations."""
