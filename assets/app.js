// Herald live users page
