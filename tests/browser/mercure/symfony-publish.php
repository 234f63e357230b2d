<?php
// Publishes one update to a Mercure hub with Symfony's Mercure component as
// Debian packages it (php-symfony-mercure), used as a Symfony app uses it:
// a Hub, a static token, an Update. Prints the id the hub answers.
//   php symfony-publish.php <hub url> <jwt> <topic> <data> [id] [private: 1|0]
require '/usr/share/php/Symfony/Component/Mercure/autoload.php';
require '/usr/share/php/Symfony/Component/HttpClient/autoload.php';

use Symfony\Component\Mercure\Hub;
use Symfony\Component\Mercure\Jwt\StaticTokenProvider;
use Symfony\Component\Mercure\Update;

[$_, $url, $jwt, $topic, $data] = $argv;
$hub = new Hub($url, new StaticTokenProvider($jwt));
$update = new Update($topic, $data, ($argv[6] ?? '0') === '1', ($argv[5] ?? '') ?: null);
echo $hub->publish($update);
