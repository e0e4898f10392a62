-- Routing strategies: how an alias orders its candidate routes. `priority` is what every
-- alias did before; `auto`'s own default lives in settings (`routing.auto_strategy`), as
-- `auto` is not a stored row unless an admin made a profile of that name.
ALTER TABLE routing_profiles
    ADD COLUMN strategy text NOT NULL DEFAULT 'priority'
        CHECK (strategy IN ('priority', 'balanced', 'fastest', 'reliable', 'smart'));

-- A model's capability tier, 1 = strongest, for the `smart` strategy; null when unranked.
ALTER TABLE models
    ADD COLUMN tier smallint CHECK (tier BETWEEN 1 AND 9);
