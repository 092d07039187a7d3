"""Campaigns: one text or template to lists and numbers, made into messages by the workers a chunk at
a time, at a rate and outside the recipients' quiet hours if asked; paused, resumed and canceled;
reported by state and cost."""
